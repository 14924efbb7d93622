//! Segment files: append-only logs of records, one writer each.
//!
//! A writer creates its segment under a `tmp-*` name, takes an exclusive `flock` on it, writes
//! the header and only then renames it to `seg-*.log`: so whoever opens a `seg-*.log` and finds
//! it unlocked knows nobody appends to it any more (its writer finished or died) and may treat
//! it as immutable. Readers never trust a record until its header check passes and the whole
//! record lies within the file; payloads are verified against their BLAKE3 on every read.
//!
//! A segment or index of a format version this code does not read is never read, rewritten or
//! removed here (only its first 12 bytes are looked at: see `format::declared_version`).
//! Version-1 segments are read like this version's (their records differ only in never being
//! compressed); this code creates only segments of its own version.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::dir::StoreDir;
use super::format::{
    self, declared_version, decode_segment_header, encode_segment_header, HeaderError, IndexEntry,
    RecordHeader, RecordKind, FAMILY_PREFIX_LEN, FORMAT_VERSION, INDEX_ENTRY_LEN, INDEX_HEADER_LEN,
    INDEX_MAGIC, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use super::names;
use crate::platform;

/// One open segment file.
#[derive(Debug)]
pub struct Segment {
    /// File name inside the store directory.
    pub name: String,
    /// Full path (for messages, and to tell whether the name still leads to this file).
    pub path: PathBuf,
    /// The directory it was opened in: its index and its removal go through it.
    pub dir: Arc<StoreDir>,
    /// The open file (read-write for the writer, read-only otherwise).
    pub file: File,
    /// The id in the header, which its index must repeat.
    pub id: u64,
    /// The format version in the header (this code's, or version 1), which its index and the
    /// decoding of its records follow.
    pub version: u32,
    /// For segments this process created: device and inode of the directory it was created in
    /// (to tell "compacted away" from "directory deleted or replaced").
    pub dir_identity: Option<(u64, u64)>,
}

impl Segment {
    /// Name of this segment's index file.
    pub fn index_name(&self) -> String {
        names::index_of(&self.name)
    }

    /// Whether its name still leads to this file (not removed or replaced).
    pub fn in_place(&self) -> bool {
        let ours = platform::file_identity(&self.file).ok();
        ours.is_some() && platform::path_identity(&self.path).ok() == ours
    }

    /// Removes this segment and its index (see [`remove_files`]).
    pub fn remove_files(&self) -> io::Result<()> {
        remove_files(&self.dir, &self.name)
    }
}

/// Creates a new segment for appending: created as a temp file, locked exclusively, header
/// written, then renamed into place. The lock is held as long as the returned file is open
/// (or until [`platform::unlock`]).
pub fn create(dir: &Arc<StoreDir>, id: u64) -> io::Result<Segment> {
    let dir_identity = platform::path_identity(dir.path())?;
    let temp = names::segment_temp(id);
    let file = dir.create_new(&temp)?;
    platform::skip_access_time(&file);
    let result = (|| {
        if !platform::try_lock_exclusive(&file)? {
            return Err(io::Error::other("fresh segment already locked"));
        }
        platform::write_all_at(&file, &encode_segment_header(id), 0)?;
        let name = names::segment(id);
        dir.rename(&temp, &name)?;
        Ok(Segment {
            path: dir.path().join(&name),
            name,
            dir: Arc::clone(dir),
            file,
            id,
            version: FORMAT_VERSION,
            dir_identity: Some(dir_identity),
        })
    })();
    if result.is_err() {
        let _ = dir.remove_owned(&temp);
    }
    result
}

/// Why an existing segment could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Opening or reading failed (another user's file included).
    Io(io::Error),
    /// The header is damaged (see [`HeaderError::Garbage`]): the segment may be removed.
    Damaged,
    /// A segment of another format version: skipped, never removed.
    OtherVersion,
}

/// Opens an existing segment (read-only unless `writable`) and checks its header.
pub fn open(dir: &Arc<StoreDir>, name: &str, writable: bool) -> Result<Segment, OpenError> {
    let file = dir.open_owned(name, writable).map_err(OpenError::Io)?;
    platform::skip_access_time(&file);
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    let read = platform::read_at_most(&file, &mut header, 0).map_err(OpenError::Io)?;
    let (id, version) = match decode_segment_header(&header[..read]) {
        Ok(found) => found,
        Err(HeaderError::Garbage) => return Err(OpenError::Damaged),
        Err(HeaderError::OtherVersion(_)) => return Err(OpenError::OtherVersion),
    };
    Ok(Segment {
        name: name.to_owned(),
        path: dir.path().join(name),
        dir: Arc::clone(dir),
        file,
        id,
        version,
        dir_identity: None,
    })
}

/// Whether this version may replace or remove the file `name` (whose format starts with
/// `magic`): it is absent, or it belongs to this user and does not declare a format version
/// this code does not read.
pub fn replaceable(dir: &StoreDir, name: &str, magic: &[u8; 8]) -> bool {
    let file = match dir.open_owned(name, false) {
        Ok(file) => file,
        Err(err) => return err.kind() == io::ErrorKind::NotFound,
    };
    let mut head = [0u8; FAMILY_PREFIX_LEN];
    let Ok(read) = platform::read_at_most(&file, &mut head, 0) else {
        return false;
    };
    declared_version(&head[..read], magic).map_or(true, format::is_readable)
}

/// Removes the segment `segment_name` (one of a version this code reads, or a damaged one) and
/// its index, unless the index is of a version this code does not read or another user's.
pub fn remove_files(dir: &StoreDir, segment_name: &str) -> io::Result<()> {
    let index = names::index_of(segment_name);
    if replaceable(dir, &index, &INDEX_MAGIC) {
        let _ = dir.remove_owned(&index);
    }
    dir.remove_owned(segment_name)
}

/// What a scan of a segment found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Records in file order (touches expanded into one entry per key).
    pub entries: Vec<IndexEntry>,
    /// End of the last whole, well-formed record: where the next record starts.
    pub valid_end: u64,
    /// Touch records whose payload failed its hash (dropped).
    pub corrupt: u64,
}

/// Scans records from `from` up to `end` (the file size seen by the caller).
///
/// A record that does not check is skipped if a well-formed record follows it somewhere before
/// `end` (damage in the middle: only that record is lost, counted in `corrupt`); otherwise the
/// scan stops there: a torn tail, or the part a live writer has not finished yet.
pub fn scan(segment: &Segment, from: u64, end: u64) -> io::Result<Scan> {
    let mut scan = Scan {
        valid_end: from.max(SEGMENT_HEADER_LEN as u64),
        ..Scan::default()
    };
    let mut offset = scan.valid_end;
    loop {
        let Some(header) = read_header(segment, offset, end)? else {
            // Damage, or the end of what is written: look for a whole record further on.
            match find_next_record(segment, offset + 1, end)? {
                Some(next) => {
                    scan.corrupt += 1;
                    offset = next;
                    continue;
                }
                None => break,
            }
        };
        match header.kind {
            RecordKind::Put => scan.entries.push(IndexEntry::put(&header, offset)),
            RecordKind::Touch => match read_touches(segment, &header, offset)? {
                Some(touches) => scan.entries.extend(
                    touches
                        .into_iter()
                        .map(|(key, access)| IndexEntry::touch(key, access)),
                ),
                None => scan.corrupt += 1,
            },
        }
        offset += header.record_len();
        scan.valid_end = offset;
    }
    Ok(scan)
}

/// The well-formed record header at `offset` whose record lies wholly before `end`, if any.
fn read_header(segment: &Segment, offset: u64, end: u64) -> io::Result<Option<RecordHeader>> {
    if offset + RECORD_HEADER_LEN as u64 > end {
        return Ok(None);
    }
    let mut bytes = [0u8; RECORD_HEADER_LEN];
    match platform::read_exact_at(&segment.file, &mut bytes, offset) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    Ok(
        RecordHeader::decode(&bytes, segment.version).filter(|header| {
            offset
                .checked_add(header.record_len())
                .is_some_and(|record_end| record_end <= end)
        }),
    )
}

/// The offset of the next well-formed record at or after `from`, searching for its magic in
/// the parts of the file that hold data (holes hold no records).
fn find_next_record(segment: &Segment, from: u64, end: u64) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 1 << 20;
    let mut start = from;
    loop {
        match platform::next_data(&segment.file, start)? {
            Some(data) => start = start.max(data),
            None => return Ok(None),
        }
        if start + RECORD_HEADER_LEN as u64 > end {
            return Ok(None);
        }
        let len = (end - start).min(CHUNK + 3);
        let mut buf = vec![0u8; len as usize];
        platform::read_exact_at(&segment.file, &mut buf, start)?;
        for at in memchr_magic(&buf) {
            let candidate = start + at as u64;
            if read_header(segment, candidate, end)?.is_some() {
                return Ok(Some(candidate));
            }
        }
        start += CHUNK;
    }
}

/// Positions of the record magic in `buf`.
fn memchr_magic(buf: &[u8]) -> impl Iterator<Item = usize> + '_ {
    buf.windows(4)
        .enumerate()
        .filter(|(_, window)| *window == format::RECORD_MAGIC)
        .map(|(at, _)| at)
}

/// A zeroed buffer of `len` bytes for a payload read from disk, or `None` if that much memory
/// cannot be had: a size read from a file never aborts the process. (Zeroed by the allocator,
/// as `vec![0; len]` is: large buffers come as fresh zero pages, without a pass over them.)
pub fn payload_buffer(len: u64) -> Option<Vec<u8>> {
    let len = usize::try_from(len).ok()?;
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    // SAFETY: the layout's size is not zero (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` comes from the global allocator with `layout` (`len` bytes, alignment 1,
    // exactly what a `Vec<u8>` of capacity `len` uses), and all `len` bytes are initialised
    // (zeroed).
    Some(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// A touch record's pairs, or `None` if its payload fails its hash or claims more pairs than
/// [`format::MAX_TOUCH_PAIRS`] (then nothing is read).
fn read_touches(
    segment: &Segment,
    header: &RecordHeader,
    offset: u64,
) -> io::Result<Option<Vec<(crate::fingerprint::PipelineFingerprint, u64)>>> {
    let max_len = (format::MAX_TOUCH_PAIRS * format::TOUCH_LEN) as u64;
    if header.payload_len > max_len || header.payload_len % format::TOUCH_LEN as u64 != 0 {
        return Ok(None);
    }
    let Some(mut payload) = payload_buffer(header.payload_len) else {
        return Ok(None);
    };
    platform::read_exact_at(
        &segment.file,
        &mut payload,
        offset + RECORD_HEADER_LEN as u64,
    )?;
    Ok((blake3::hash(&payload).as_bytes() == &header.payload_hash)
        .then(|| format::decode_touches(&payload))
        .flatten())
}

/// Writes `entries` as the index of `segment` (of `segment_len` bytes): to a temp file, then
/// renamed over the index name; returns the index's length. Not synced: an index is only a
/// shortcut, checked against its segment on every load, and rebuilt by scanning when missing or
/// wrong. An existing index of another format version, or another user's, is left in place (the
/// segment is then scanned when loaded), and 0 returned: no bytes of this store's.
pub fn write_index<'a>(
    segment: &Segment,
    segment_len: u64,
    entries: impl IntoIterator<Item = &'a IndexEntry>,
) -> io::Result<u64> {
    #[cfg(test)]
    super::test_hooks::pause(super::test_hooks::Pause::WritingIndex, &segment.name);
    let dir = &segment.dir;
    let index_name = segment.index_name();
    if !replaceable(dir, &index_name, &INDEX_MAGIC) {
        return Ok(0);
    }
    let bytes = format::encode_index(segment.version, segment.id, segment_len, entries);
    let temp = names::index_temp(segment.id ^ u64::from(platform::process_id()));
    let _ = dir.remove_owned(&temp);
    let file = dir.create_new(&temp)?;
    let result = (|| {
        platform::try_lock_exclusive(&file)?;
        platform::write_all_at(&file, &bytes, 0)?;
        dir.rename(&temp, &index_name)
    })();
    if result.is_err() {
        let _ = dir.remove_owned(&temp);
    }
    result.map(|()| bytes.len() as u64)
}

/// Index entries read per chunk (about 1 MiB).
const INDEX_CHUNK_ENTRIES: usize = (1 << 20) / INDEX_ENTRY_LEN;

/// Reads the index of `segment` if present and consistent with a segment of `segment_len` bytes.
///
/// What the file claims is checked before memory is spent on it: the header must describe this
/// segment and count no more entries than its length allows, and the file must be exactly that
/// long. Entries are then read in chunks, each checked as it is decoded, so memory grows only
/// with entries that are well-formed (a sparse or garbage body stops at its first chunk); the
/// hash of all of them decides at the end.
pub fn read_index(segment: &Segment, segment_len: u64) -> Option<Vec<IndexEntry>> {
    let file = segment.dir.open_owned(&segment.index_name(), false).ok()?;
    let mut head = [0u8; INDEX_HEADER_LEN];
    platform::read_exact_at(&file, &mut head, 0).ok()?;
    let header = format::decode_index_header(&head, segment.version, segment.id, segment_len)?;
    let end = INDEX_HEADER_LEN as u64 + header.body_len();
    if file.metadata().ok()?.len() != end {
        return None;
    }
    let mut entries = Vec::new();
    let mut hasher = blake3::Hasher::new();
    let mut chunk = vec![0u8; INDEX_CHUNK_ENTRIES * INDEX_ENTRY_LEN];
    let mut offset = INDEX_HEADER_LEN as u64;
    while offset < end {
        let len = (end - offset).min(chunk.len() as u64) as usize;
        let bytes = &mut chunk[..len];
        platform::read_exact_at(&file, bytes, offset).ok()?;
        hasher.update(bytes);
        entries.try_reserve(len / INDEX_ENTRY_LEN).ok()?;
        for raw in bytes.chunks_exact(INDEX_ENTRY_LEN) {
            let raw: &[u8; INDEX_ENTRY_LEN] = raw.try_into().expect("chunks of one entry");
            entries.push(format::decode_index_entry(raw, segment_len)?);
        }
        offset += len as u64;
    }
    (hasher.finalize().as_bytes() == &header.entries_hash).then_some(entries)
}
