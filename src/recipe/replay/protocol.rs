//! The messages between a replay and its worker processes: frames on the worker's stdin and
//! stdout (a `u8` tag, a `u32` little-endian length, the body). A private, transient protocol
//! between two copies of one program; nothing of it is stored.

use std::io::{self, Read, Write};

use super::set::RecipeSet;
use crate::codec::{Reader, Writer};
use crate::recipe::key::RecipeKey;
use crate::recipe::wire::Wire;

/// Largest frame either side accepts: the recipes of a job (a game's SPIR-V) or a driver's
/// cache data, far below this; anything above is a broken peer, refused before allocating.
const MAX_FRAME: u32 = 1 << 30;

/// From the replay to a worker.
#[derive(Debug)]
pub(super) enum ToWorker {
    /// The device to create: sent once, first, as soon as the worker starts, so the worker
    /// loads the driver and creates its device while the replay loads the cache and recipes.
    Device {
        /// The instance's API version (the recorded application's).
        api_version: u32,
        /// Which physical device.
        device_index: u32,
        /// Whether to enable `VK_LAYER_KHRONOS_validation` and report its errors.
        validation: bool,
        /// The device recipe's bytes.
        device: Vec<u8>,
    },
    /// What to replay on that device: sent once, second.
    Work {
        /// Initial data for the worker's pipeline cache (the stored cache's contents).
        seed: Vec<u8>,
        /// Every recipe the pipelines need.
        recipes: RecipeSet,
    },
    /// Create this pipeline.
    Pipeline(RecipeKey),
    /// Send the cache's data and exit.
    Finish,
}

/// From a worker to the replay.
#[derive(Debug)]
pub(super) enum FromWorker {
    /// The device and cache exist; ready for pipelines.
    Ready,
    /// The device could not be created (`VkResult` or another error's text).
    Unsupported(String),
    /// A pipeline was created or refused by the driver: its `VkResult` and whether creation
    /// feedback reported a cache hit (0 no, 1 yes, 2 no feedback).
    Created {
        pipeline: RecipeKey,
        result: i32,
        cache_hit: u8,
    },
    /// A pipeline's recipes could not be built (the text says why).
    Unbuildable { pipeline: RecipeKey, reason: String },
    /// The cache's data, after `Finish`.
    CacheData(Vec<u8>),
    /// Validation errors reported since the last such message (sent before the answer they
    /// came with, and once more before exiting).
    ValidationErrors(u64),
}

fn write_frame(out: &mut impl Write, tag: u8, body: &[u8]) -> io::Result<()> {
    let length = u32::try_from(body.len())
        .ok()
        .filter(|length| *length <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut header = [0u8; 5];
    header[0] = tag;
    header[1..].copy_from_slice(&length.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(body)?;
    out.flush()
}

/// One frame; `None` at a clean end of input.
fn read_frame(input: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    match input.read_exact(&mut header) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    if length > MAX_FRAME {
        return Err(malformed());
    }
    // Grows as bytes arrive: a claimed length alone allocates nothing.
    let mut body = Vec::new();
    input.take(u64::from(length)).read_to_end(&mut body)?;
    if body.len() != length as usize {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    Ok(Some((header[0], body)))
}

fn malformed() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed replay frame")
}

fn bytes_field(out: &mut Writer, bytes: &[u8]) {
    out.u32(bytes.len() as u32).bytes(bytes);
}

fn take_bytes(input: &mut Reader<'_>) -> Option<Vec<u8>> {
    let length = input.u32()? as usize;
    input.take(length).map(<[u8]>::to_vec)
}

/// Parses a whole body with `parse`, refusing leftovers.
fn parse<T>(body: &[u8], parse: impl FnOnce(&mut Reader<'_>) -> Option<T>) -> io::Result<T> {
    let mut input = Reader::new(body);
    let value = parse(&mut input).ok_or_else(malformed)?;
    if !input.is_at_end() {
        return Err(malformed());
    }
    Ok(value)
}

impl ToWorker {
    pub(super) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut body = Writer::default();
        let tag = match self {
            Self::Device {
                api_version,
                device_index,
                validation,
                device,
            } => {
                body.u32(*api_version)
                    .u32(*device_index)
                    .u8(u8::from(*validation));
                bytes_field(&mut body, device);
                1
            }
            Self::Work { seed, recipes } => {
                bytes_field(&mut body, seed);
                recipes.encode(&mut body);
                4
            }
            Self::Pipeline(key) => {
                key.put(&mut body);
                2
            }
            Self::Finish => 3,
        };
        write_frame(out, tag, body.as_slice())
    }

    /// The next message; `None` when the replay closed the pipe.
    pub(super) fn read(input: &mut impl Read) -> io::Result<Option<Self>> {
        let Some((tag, body)) = read_frame(input)? else {
            return Ok(None);
        };
        let message = match tag {
            1 => parse(&body, |input| {
                Some(Self::Device {
                    api_version: input.u32()?,
                    device_index: input.u32()?,
                    validation: match input.u8()? {
                        0 => false,
                        1 => true,
                        _ => return None,
                    },
                    device: take_bytes(input)?,
                })
            })?,
            2 => parse(&body, |input| RecipeKey::get(input).map(Self::Pipeline))?,
            3 => parse(&body, |_| Some(Self::Finish))?,
            4 => parse(&body, |input| {
                Some(Self::Work {
                    seed: take_bytes(input)?,
                    recipes: RecipeSet::decode(input)?,
                })
            })?,
            _ => return Err(malformed()),
        };
        Ok(Some(message))
    }
}

impl FromWorker {
    pub(super) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut body = Writer::default();
        let tag = match self {
            Self::Ready => 1,
            Self::Unsupported(reason) => {
                bytes_field(&mut body, reason.as_bytes());
                2
            }
            Self::Created {
                pipeline,
                result,
                cache_hit,
            } => {
                pipeline.put(&mut body);
                body.u32(*result as u32).u8(*cache_hit);
                3
            }
            Self::Unbuildable { pipeline, reason } => {
                pipeline.put(&mut body);
                bytes_field(&mut body, reason.as_bytes());
                4
            }
            Self::CacheData(data) => {
                body.bytes(data);
                5
            }
            Self::ValidationErrors(count) => {
                body.u64(*count);
                6
            }
        };
        write_frame(out, tag, body.as_slice())
    }

    /// The next message; `None` when the worker closed its output (it exited or died).
    pub(super) fn read(input: &mut impl Read) -> io::Result<Option<Self>> {
        let Some((tag, body)) = read_frame(input)? else {
            return Ok(None);
        };
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        let message = match tag {
            1 => parse(&body, |_| Some(Self::Ready))?,
            2 => parse(&body, |input| {
                Some(Self::Unsupported(text(take_bytes(input)?)))
            })?,
            3 => parse(&body, |input| {
                Some(Self::Created {
                    pipeline: RecipeKey::get(input)?,
                    result: input.u32()? as i32,
                    cache_hit: input.u8()?,
                })
            })?,
            4 => parse(&body, |input| {
                Some(Self::Unbuildable {
                    pipeline: RecipeKey::get(input)?,
                    reason: text(take_bytes(input)?),
                })
            })?,
            5 => Self::CacheData(body),
            6 => parse(&body, |input| input.u64().map(Self::ValidationErrors))?,
            _ => return Err(malformed()),
        };
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::PipelineFingerprint;

    #[test]
    fn messages_survive_the_pipe_and_claimed_lengths_allocate_nothing() {
        let key = RecipeKey(PipelineFingerprint([7; 32]));
        let mut pipe = Vec::new();
        ToWorker::Device {
            api_version: 0x0040_3000,
            device_index: 1,
            validation: true,
            device: vec![1, 2, 3],
        }
        .write(&mut pipe)
        .unwrap();
        ToWorker::Work {
            seed: vec![9; 5],
            recipes: RecipeSet::default(),
        }
        .write(&mut pipe)
        .unwrap();
        ToWorker::Pipeline(key).write(&mut pipe).unwrap();
        ToWorker::Finish.write(&mut pipe).unwrap();
        let mut input = pipe.as_slice();
        assert!(matches!(
            ToWorker::read(&mut input).unwrap(),
            Some(ToWorker::Device { api_version: 0x0040_3000, device_index: 1, validation: true, device })
                if device == [1, 2, 3]
        ));
        assert!(matches!(
            ToWorker::read(&mut input).unwrap(),
            Some(ToWorker::Work { seed, recipes }) if seed == [9; 5] && recipes == RecipeSet::default()
        ));
        assert!(matches!(
            ToWorker::read(&mut input).unwrap(),
            Some(ToWorker::Pipeline(k)) if k == key
        ));
        assert!(matches!(
            ToWorker::read(&mut input).unwrap(),
            Some(ToWorker::Finish)
        ));
        assert!(ToWorker::read(&mut input).unwrap().is_none());

        let mut pipe = Vec::new();
        FromWorker::Created {
            pipeline: key,
            result: -3,
            cache_hit: 1,
        }
        .write(&mut pipe)
        .unwrap();
        let mut input = pipe.as_slice();
        assert!(matches!(
            FromWorker::read(&mut input).unwrap(),
            Some(FromWorker::Created { pipeline, result: -3, cache_hit: 1 }) if pipeline == key
        ));

        // A frame claiming 1 GiB but holding 3 bytes: an error, not a 1 GiB buffer.
        let mut lying = vec![5u8];
        lying.extend_from_slice(&MAX_FRAME.to_le_bytes());
        lying.extend_from_slice(b"abc");
        let error = FromWorker::read(&mut lying.as_slice()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let mut too_long = vec![5u8];
        too_long.extend_from_slice(&(MAX_FRAME + 1).to_le_bytes());
        let error = FromWorker::read(&mut too_long.as_slice()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // Trailing bytes after a message's fields are refused.
        let mut trailing = Vec::new();
        write_frame(&mut trailing, 1, b"x").unwrap();
        assert!(FromWorker::read(&mut trailing.as_slice()).is_err());
    }
}
