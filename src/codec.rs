//! One way to write and read the little-endian binary layouts pcstore stores (FORMAT.md): a
//! [`Writer`] that appends fields in order and a [`Reader`] that takes them back in the same
//! order, bounds-checked, so a layout reads like the table that documents it and no format
//! computes offsets by hand.
//!
//! The reader never allocates and never panics on short or hostile input: every take returns
//! `None` past the end, and lengths read from input are checked against the bytes actually
//! left before anything is sliced, so a claimed size can never size an allocation.

/// Appends little-endian fields to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(capacity),
        }
    }

    /// An empty writer that appends to `bytes`' allocation (cleared first), so a caller that
    /// encodes often can hand the same buffer back each time.
    pub fn reusing(mut bytes: Vec<u8>) -> Self {
        bytes.clear();
        Self { bytes }
    }

    /// Appends one byte.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    /// Appends a `u16`.
    #[cfg_attr(not(feature = "vulkan"), allow(dead_code))] // used by recipes only
    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends a boolean as one byte, 0 or 1.
    #[cfg_attr(not(feature = "vulkan"), allow(dead_code))] // used by recipes only
    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.u8(u8::from(value))
    }

    /// Appends a `u32`.
    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends a `u64`.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends raw bytes (a fixed-size field or a payload whose length is stored elsewhere).
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(value);
        self
    }

    /// Appends `count` zero bytes (padding, reserved fields).
    pub fn zeros(&mut self, count: usize) -> &mut Self {
        self.bytes.resize(self.bytes.len() + count, 0);
        self
    }

    /// The bytes written so far (e.g. to hash a header before appending its check).
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// The finished bytes.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Takes little-endian fields in order from a byte slice; every take is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    /// Bytes not yet taken.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// Whether every byte was taken.
    pub fn is_at_end(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `count` bytes, or `None` if fewer are left (nothing is taken then).
    pub fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(count)?;
        let taken = self.bytes.get(self.position..end)?;
        self.position = end;
        Some(taken)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)
            .map(|bytes| bytes.try_into().expect("took N bytes"))
    }

    /// The next byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[byte]| byte)
    }

    /// The next `u16`.
    #[cfg_attr(not(feature = "vulkan"), allow(dead_code))] // used by recipes only
    pub fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    /// The next boolean: one byte that must be 0 or 1, so every accepted input has exactly one
    /// encoding (`None` for any other byte; the byte is taken either way).
    #[cfg_attr(not(feature = "vulkan"), allow(dead_code))] // used by recipes only
    pub fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// The next `u32`.
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// The next `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// Skips `count` bytes that must all be zero (padding, reserved fields); `None` if they are
    /// not, or not there.
    pub fn zeros(&mut self, count: usize) -> Option<()> {
        self.take(count)?
            .iter()
            .all(|byte| *byte == 0)
            .then_some(())
    }

    /// A length read from input, accepted only if that many units of `unit_len` bytes are left:
    /// what input claims can then never size an allocation beyond the input itself.
    pub fn count_within(&self, count: u64, unit_len: usize) -> Option<usize> {
        let count = usize::try_from(count).ok()?;
        (count.checked_mul(unit_len.max(1))? <= self.remaining()).then_some(count)
    }
}

/// Test support: checks that the `| off | size | field |` table under the heading starting with
/// `table_heading`, on the FORMAT.md page whose title starts with `page_title`, documents exactly
/// `header`: the fields named there, in that order, back to back from offset 0 to the end of
/// `header`, each holding the bytes `fields` gives for it. So the layout people read is the one
/// the code writes.
#[cfg(test)]
pub(crate) fn assert_documented_layout(
    page_title: &str,
    table_heading: &str,
    header: &[u8],
    fields: &[(&str, &[u8])],
) {
    const FORMAT_MD: &str = include_str!("../FORMAT.md");
    let page = FORMAT_MD
        .split("\n# ")
        .find(|page| page.starts_with(page_title))
        .unwrap_or_else(|| panic!("FORMAT.md has no page \"# {page_title}\""));
    let table = page
        .split("\n## ")
        .find(|section| section.starts_with(table_heading))
        .unwrap_or_else(|| panic!("FORMAT.md's {page_title} has no \"## {table_heading}\""));
    let rows: Vec<(usize, usize, &str)> = table
        .lines()
        .filter_map(
            |line| match line.split('|').map(str::trim).collect::<Vec<_>>()[..] {
                ["", offset, size, field, ""] => {
                    Some((offset.parse().ok()?, size.parse().ok()?, field))
                }
                _ => None,
            },
        )
        .collect();
    let documented: Vec<&str> = rows.iter().map(|(_, _, field)| *field).collect();
    let expected: Vec<&str> = fields.iter().map(|(field, _)| *field).collect();
    assert_eq!(documented, expected, "{page_title}: fields");
    let mut next = 0;
    for ((offset, size, field), (_, value)) in rows.iter().zip(fields) {
        assert_eq!(
            *offset, next,
            "{page_title}: {field} does not follow the field before"
        );
        assert_eq!(*size, value.len(), "{page_title}: size of {field}");
        assert_eq!(
            header.get(next..next + size),
            Some(*value),
            "{page_title}: bytes of {field}"
        );
        next += size;
    }
    assert_eq!(
        next,
        header.len(),
        "{page_title}: the table covers the header"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_md_contents_link_every_page() {
        let format_md = include_str!("../FORMAT.md");
        let (contents, pages) = format_md
            .split_once("\n# ")
            .expect("FORMAT.md: contents, then pages");
        for title in std::iter::once(pages).chain(pages.split("\n# ").skip(1)) {
            let title = title.lines().next().unwrap_or_default();
            // GitHub's anchor: lower case, punctuation dropped, spaces to hyphens.
            let anchor: String = title
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            assert!(
                contents.contains(&format!("](#{anchor})")),
                "FORMAT.md's contents do not link \"{title}\" (#{anchor})"
            );
        }
    }

    #[test]
    fn fields_round_trip_in_order() {
        let mut writer = Writer::with_capacity(32);
        writer
            .u8(7)
            .u32(0xdead_beef)
            .u64(u64::MAX - 1)
            .bytes(b"key")
            .zeros(3);
        assert_eq!(writer.as_slice().len(), 1 + 4 + 8 + 3 + 3);
        let bytes = writer.finish();
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8(), Some(7));
        assert_eq!(reader.u32(), Some(0xdead_beef));
        assert_eq!(reader.u64(), Some(u64::MAX - 1));
        assert_eq!(reader.array::<3>(), Some(*b"key"));
        assert_eq!(reader.zeros(3), Some(()));
        assert!(reader.is_at_end());
    }

    #[test]
    fn u16_and_bool_round_trip_and_bools_are_strict() {
        let mut writer = Writer::default();
        writer.u16(0xbeef).bool(true).bool(false).u8(2);
        let bytes = writer.finish();
        assert_eq!(bytes, [0xef, 0xbe, 1, 0, 2]);
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u16(), Some(0xbeef));
        assert_eq!(reader.bool(), Some(true));
        assert_eq!(reader.bool(), Some(false));
        assert_eq!(reader.bool(), None, "2 is not a boolean");
        assert_eq!(Reader::new(&[1]).u16(), None);
    }

    #[test]
    fn short_input_takes_nothing_and_never_panics() {
        let mut reader = Reader::new(&[1, 2, 3]);
        assert_eq!(reader.u32(), None);
        assert_eq!(reader.remaining(), 3);
        assert_eq!(reader.take(usize::MAX), None);
        assert_eq!(reader.u8(), Some(1));
        assert_eq!(reader.zeros(1), None, "a non-zero reserved byte is refused");
    }

    #[test]
    fn claimed_counts_are_bounded_by_what_is_left() {
        let bytes = [0u8; 80];
        let reader = Reader::new(&bytes);
        assert_eq!(reader.count_within(10, 8), Some(10));
        assert_eq!(reader.count_within(11, 8), None);
        assert_eq!(reader.count_within(u64::MAX, 1), None);
        assert_eq!(reader.count_within(u64::MAX / 2, 8), None);
    }
}
