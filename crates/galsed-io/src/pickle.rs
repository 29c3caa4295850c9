//! Safe, non-executing reader for the Python pickles shipped with Starduster.
//!
//! [`parse`] runs a small pickle virtual machine (protocols 2–5, binary opcodes only) that never
//! imports or calls anything. The only globals it accepts are the classes and functions that the
//! published checkpoints and numpy pickles reference ([`ALLOWED_GLOBALS`]); each one is
//! interpreted by hand into a typed [`Value`] ([`TensorRef`], [`NdArray`], [`Value::Object`], …).
//! Any other global, an opcode outside the supported set, a malformed or truncated stream, or a
//! structure that would need too much memory gives a [`PickleError`].
//!
//! Containers live in an arena while the stream runs, so memo references share one object as
//! in Python (a `BUILD` after `BINPUT` is seen by later `BINGET`s). At `STOP` the arena is
//! expanded into an owned tree under a size budget proportional to the input, which stops
//! "billion laughs" expansion and self-referencing structures.
//!
//! ```rust
//! use galsed_io::pickle::{parse, Value};
//!
//! // pickle.dumps({"a": [1, 2.5]}, protocol=2)
//! let bytes = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00es.";
//! let value = parse(bytes)?;
//! assert_eq!(
//!     value.get("a"),
//!     Some(&Value::List(vec![Value::Int(1), Value::Float(2.5)]))
//! );
//! # Ok::<(), galsed_io::pickle::PickleError>(())
//! ```

use std::collections::HashMap;
use std::rc::Rc;

use thiserror::Error;

/// Errors from [`parse`] and from the typed accessors of [`Value`] and [`NdArray`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PickleError {
    /// The stream ended in the middle of an opcode or before `STOP`.
    #[error("pickle truncated at byte {offset}: {what}")]
    Truncated {
        /// Offset of the opcode being read.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// A valid pickle opcode that this reader deliberately does not implement.
    #[error("pickle opcode {name} (0x{opcode:02x}) at byte {offset} is not supported")]
    UnsupportedOpcode {
        /// The opcode byte.
        opcode: u8,
        /// Its name in `pickletools`, or `unknown`.
        name: &'static str,
        /// Offset of the opcode.
        offset: usize,
    },
    /// `PROTO` announced a protocol outside 2–5.
    #[error("pickle protocol {0} is not supported (expected 2 to 5)")]
    UnsupportedProtocol(u8),
    /// The stream references a global outside [`ALLOWED_GLOBALS`].
    #[error(
        "pickle references global `{name}` at byte {offset}, which is not allowed; refusing to load it"
    )]
    ForbiddenGlobal {
        /// `module.name` as written in the stream.
        name: String,
        /// Offset of the opcode.
        offset: usize,
    },
    /// Structurally invalid stream: stack underflow, bad memo index, wrong argument types, …
    #[error("malformed pickle at byte {offset}: {message}")]
    Malformed {
        /// Offset of the opcode that failed.
        offset: usize,
        /// What went wrong.
        message: String,
    },
    /// The stream would need more memory or nesting than the safety limits allow.
    #[error("pickle exceeds a safety limit: {0}")]
    LimitExceeded(String),
    /// A parsed value does not have the type or layout the caller asked for.
    #[error("unexpected pickle content: {0}")]
    Content(String),
}

type Result<T> = std::result::Result<T, PickleError>;

/// The globals (`module.name`) that [`parse`] accepts; everything else is refused.
///
/// Python 2 spelling `__builtin__` and the numpy 2 module `numpy._core.multiarray` are accepted
/// as aliases of `builtins` and `numpy.core.multiarray`.
pub const ALLOWED_GLOBALS: &[&str] = &[
    "collections.OrderedDict",
    "builtins.set",
    "builtins.slice",
    "torch._utils._rebuild_tensor_v2",
    "torch.FloatStorage",
    "numpy.core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy.dtype",
    "numpy.ndarray",
    "_codecs.encode",
    "torch.nn.modules.activation.Tanh",
    "torch.nn.modules.activation.Sigmoid",
    "starduster.helper.Helper",
];

/// Deepest nesting of containers accepted in the result.
const MAX_DEPTH: usize = 100;
/// Most dimensions accepted for an array or tensor.
const MAX_NDIM: usize = 32;
/// Longest `module` or `name` line accepted in `GLOBAL`.
const MAX_GLOBAL_LINE: usize = 256;

/// A parsed pickle value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer (also numpy integer scalars); larger than 64 bits is an error.
    Int(i64),
    /// A float (also numpy float scalars).
    Float(f64),
    /// A `str`.
    Str(String),
    /// `bytes` (also the result of `_codecs.encode(s, "latin1")`).
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict` or `collections.OrderedDict`: pairs in stream order, plus instance attributes
    /// set by `BUILD` (PyTorch state dicts carry `_metadata` that way).
    Dict {
        /// Key/value pairs in insertion order.
        items: Vec<(Value, Value)>,
        /// The `BUILD` state, if any.
        attrs: Option<Box<Value>>,
    },
    /// A `set` (or `frozenset`), items in stream order.
    Set(Vec<Value>),
    /// `slice(start, stop, step)`.
    Slice {
        /// `start` (often `None`).
        start: Box<Value>,
        /// `stop`.
        stop: Box<Value>,
        /// `step` (often `None`).
        step: Box<Value>,
    },
    /// A PyTorch tensor: a view into a storage held outside the pickle.
    Tensor(TensorRef),
    /// A numpy array with its raw bytes.
    NdArray(NdArray),
    /// A bare numpy dtype.
    Dtype(DType),
    /// An allowed class instance (`Tanh`, `Sigmoid`, `Helper`) with its `BUILD` state.
    Object {
        /// `module.name` of the class.
        class: String,
        /// The state passed to `BUILD`, if any.
        state: Option<Box<Value>>,
    },
}

impl Value {
    /// Value of the last pair with string key `key`, when `self` is a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict { items, .. } => items
                .iter()
                .rev()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Python-ish name of the variant, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict { .. } => "dict",
            Value::Set(_) => "set",
            Value::Slice { .. } => "slice",
            Value::Tensor(_) => "torch tensor",
            Value::NdArray(_) => "numpy array",
            Value::Dtype(_) => "numpy dtype",
            Value::Object { .. } => "object",
        }
    }
}

/// Element type of a PyTorch storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchDtype {
    /// `torch.FloatStorage`: little-endian IEEE float32.
    Float32,
}

impl TorchDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            TorchDtype::Float32 => 4,
        }
    }
}

/// A tensor from `torch._utils._rebuild_tensor_v2`: a strided view of a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    /// Storage key: the file `<archive>/data/<key>` in a `.pt` zip.
    pub storage_key: String,
    /// Element type of the storage.
    pub dtype: TorchDtype,
    /// Device the storage was saved from (`cpu`, `cuda:0`, …); informational.
    pub location: String,
    /// Number of elements in the whole storage.
    pub storage_numel: usize,
    /// Offset of the first element, in elements.
    pub offset: usize,
    /// Shape of the view.
    pub shape: Vec<usize>,
    /// Strides of the view, in elements.
    pub strides: Vec<usize>,
    /// `requires_grad` flag.
    pub requires_grad: bool,
}

/// Kind of a numpy scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DTypeKind {
    /// `f`: IEEE float (4 or 8 bytes).
    Float,
    /// `i`: signed integer (1, 2, 4 or 8 bytes).
    Int,
    /// `u`: unsigned integer (1, 2, 4 or 8 bytes).
    UInt,
    /// `b`: bool (1 byte).
    Bool,
}

/// Byte order of a numpy dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// `<`
    Little,
    /// `>`
    Big,
    /// `|`: single-byte types.
    NotApplicable,
}

/// A simple (non-structured) numpy dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DType {
    /// Kind of values.
    pub kind: DTypeKind,
    /// Bytes per element.
    pub size: usize,
    /// Byte order of the raw data.
    pub byte_order: ByteOrder,
}

impl DType {
    /// Parses a dtype code such as `f8`, `<i4` or `|b1`.
    fn from_code(code: &str) -> Option<DType> {
        let (order, rest) = match code.as_bytes().first()? {
            b'<' => (Some(ByteOrder::Little), code.get(1..)?),
            b'>' => (Some(ByteOrder::Big), code.get(1..)?),
            b'|' => (Some(ByteOrder::NotApplicable), code.get(1..)?),
            _ => (None, code),
        };
        let kind = match rest.as_bytes().first()? {
            b'f' => DTypeKind::Float,
            b'i' => DTypeKind::Int,
            b'u' => DTypeKind::UInt,
            b'b' => DTypeKind::Bool,
            _ => return None,
        };
        let size: usize = rest.get(1..)?.parse().ok()?;
        let size_ok = match kind {
            DTypeKind::Float => matches!(size, 4 | 8),
            DTypeKind::Int | DTypeKind::UInt => matches!(size, 1 | 2 | 4 | 8),
            DTypeKind::Bool => size == 1,
        };
        if !size_ok {
            return None;
        }
        // Without a prefix numpy uses the reading machine's order; galsed assumes little-endian.
        let default = if size == 1 {
            ByteOrder::NotApplicable
        } else {
            ByteOrder::Little
        };
        Some(DType {
            kind,
            size,
            byte_order: order.unwrap_or(default),
        })
    }

    /// numpy-style code, e.g. `<f8`.
    pub fn code(&self) -> String {
        let order = match self.byte_order {
            ByteOrder::Little => '<',
            ByteOrder::Big => '>',
            ByteOrder::NotApplicable => '|',
        };
        let kind = match self.kind {
            DTypeKind::Float => 'f',
            DTypeKind::Int => 'i',
            DTypeKind::UInt => 'u',
            DTypeKind::Bool => 'b',
        };
        format!("{order}{kind}{}", self.size)
    }

    /// Decodes one element (exactly `self.size` bytes) to a scalar value.
    fn decode(&self, raw: &[u8]) -> Result<Value> {
        let bytes = |n: usize| -> Result<[u8; 8]> {
            if raw.len() != n {
                return Err(PickleError::Content(format!(
                    "dtype {} needs {n} bytes per element, got {}",
                    self.code(),
                    raw.len()
                )));
            }
            let mut buf = [0u8; 8];
            // Normalise to little-endian in the low bytes of an 8-byte buffer.
            for (i, b) in raw.iter().enumerate() {
                let j = if self.byte_order == ByteOrder::Big {
                    n - 1 - i
                } else {
                    i
                };
                if let Some(slot) = buf.get_mut(j) {
                    *slot = *b;
                }
            }
            Ok(buf)
        };
        let n = self.size;
        let size_ok = match self.kind {
            DTypeKind::Float => matches!(n, 4 | 8),
            DTypeKind::Int | DTypeKind::UInt => matches!(n, 1 | 2 | 4 | 8),
            DTypeKind::Bool => n == 1,
        };
        if !size_ok {
            return Err(PickleError::Content(format!(
                "dtype {} is not supported",
                self.code()
            )));
        }
        let buf = bytes(n)?;
        Ok(match (self.kind, n) {
            (DTypeKind::Float, 4) => {
                let [a, b, c, d, ..] = buf;
                Value::Float(f64::from(f32::from_le_bytes([a, b, c, d])))
            }
            (DTypeKind::Float, _) => Value::Float(f64::from_le_bytes(buf)),
            (DTypeKind::Bool, _) => Value::Bool(buf[0] != 0),
            (DTypeKind::Int, _) => {
                // Sign-extend from n bytes.
                let shift = 64 - 8 * n as u32;
                Value::Int((i64::from_le_bytes(buf) << shift) >> shift)
            }
            (DTypeKind::UInt, _) => {
                let v = u64::from_le_bytes(buf);
                Value::Int(i64::try_from(v).map_err(|_| {
                    PickleError::Content(format!("unsigned value {v} does not fit in i64"))
                })?)
            }
        })
    }
}

/// A numpy array from `numpy.core.multiarray._reconstruct` + `BUILD`.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
    /// `true` when `data` is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Raw element bytes, `len() * dtype.size` of them.
    pub data: Vec<u8>,
}

impl NdArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size.max(1)
    }

    /// `true` when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements as scalar values ([`Value::Float`], [`Value::Int`] or [`Value::Bool`]) in C order.
    pub fn scalars(&self) -> Result<Vec<Value>> {
        let raw: Vec<Value> = self
            .data
            .chunks_exact(self.dtype.size.max(1))
            .map(|c| self.dtype.decode(c))
            .collect::<Result<_>>()?;
        Ok(c_order(&self.shape, self.fortran_order, raw))
    }

    /// Elements of a float array as `f64`, in C order. Other kinds are an error.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        self.require(self.dtype.kind == DTypeKind::Float, "a float")?;
        self.scalars()?
            .into_iter()
            .map(|v| match v {
                Value::Float(x) => Ok(x),
                other => Err(unexpected_element(&other)),
            })
            .collect()
    }

    /// Elements of a float32 array, in C order. Other dtypes are an error (no lossy casts).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        self.require(
            self.dtype.kind == DTypeKind::Float && self.dtype.size == 4,
            "a float32",
        )?;
        // Every f32 widened to f64 narrows back exactly.
        Ok(self.to_f64_vec()?.into_iter().map(|x| x as f32).collect())
    }

    /// Elements of an integer or bool array as `i64`, in C order. Float arrays are an error.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        self.require(self.dtype.kind != DTypeKind::Float, "an integer")?;
        self.scalars()?
            .into_iter()
            .map(|v| match v {
                Value::Int(x) => Ok(x),
                Value::Bool(b) => Ok(i64::from(b)),
                other => Err(unexpected_element(&other)),
            })
            .collect()
    }

    fn require(&self, ok: bool, what: &str) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(PickleError::Content(format!(
                "expected {what} array, found dtype {}",
                self.dtype.code()
            )))
        }
    }
}

fn unexpected_element(v: &Value) -> PickleError {
    PickleError::Content(format!(
        "unexpected array element of type {}",
        v.type_name()
    ))
}

/// Reorders Fortran-ordered elements into C order (a no-op for C order or ≤ 1 dimension).
fn c_order<T: Clone>(shape: &[usize], fortran: bool, vals: Vec<T>) -> Vec<T> {
    if !fortran || shape.len() <= 1 || vals.is_empty() {
        return vals;
    }
    // Fortran strides, in elements.
    let mut fstrides = Vec::with_capacity(shape.len());
    let mut acc = 1usize;
    for &d in shape {
        fstrides.push(acc);
        acc = acc.saturating_mul(d);
    }
    let mut out = Vec::with_capacity(vals.len());
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..vals.len() {
        let off: usize = idx.iter().zip(&fstrides).map(|(i, s)| i * s).sum();
        match vals.get(off) {
            Some(v) => out.push(v.clone()),
            None => return vals,
        }
        // Odometer increment, last axis fastest.
        for (i, &d) in idx.iter_mut().zip(shape).rev() {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
    out
}

/// Parses a pickle without executing anything. See the module documentation.
pub fn parse(data: &[u8]) -> Result<Value> {
    let budget = data.len().saturating_mul(32).saturating_add(4 << 20);
    let mut vm = Vm {
        data,
        pos: 0,
        op_pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        nodes: Vec::new(),
        budget,
    };
    let top = vm.run()?;
    let mut m = Materializer {
        nodes: &vm.nodes,
        budget: vm.budget,
    };
    m.value(&top, 0)
}

// ---------------------------------------------------------------------------------------------
// Virtual machine internals.

/// A stack or memo entry. Containers are indices into the arena so memo entries share them.
#[derive(Debug, Clone)]
enum Item {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Global(Global),
    Node(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    OrderedDict,
    Set,
    Slice,
    RebuildTensorV2,
    FloatStorage,
    NpReconstruct,
    NpScalar,
    NpDtype,
    NpNdarray,
    CodecsEncode,
    Tanh,
    Sigmoid,
    Helper,
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Global> {
        Some(match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("builtins" | "__builtin__", "set") => Global::Set,
            ("builtins" | "__builtin__", "slice") => Global::Slice,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch", "FloatStorage") => Global::FloatStorage,
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
                Global::NpReconstruct
            }
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Global::NpScalar,
            ("numpy", "dtype") => Global::NpDtype,
            ("numpy", "ndarray") => Global::NpNdarray,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("torch.nn.modules.activation", "Tanh") => Global::Tanh,
            ("torch.nn.modules.activation", "Sigmoid") => Global::Sigmoid,
            ("starduster.helper", "Helper") => Global::Helper,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Global::OrderedDict => "collections.OrderedDict",
            Global::Set => "builtins.set",
            Global::Slice => "builtins.slice",
            Global::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2",
            Global::FloatStorage => "torch.FloatStorage",
            Global::NpReconstruct => "numpy.core.multiarray._reconstruct",
            Global::NpScalar => "numpy.core.multiarray.scalar",
            Global::NpDtype => "numpy.dtype",
            Global::NpNdarray => "numpy.ndarray",
            Global::CodecsEncode => "_codecs.encode",
            Global::Tanh => "torch.nn.modules.activation.Tanh",
            Global::Sigmoid => "torch.nn.modules.activation.Sigmoid",
            Global::Helper => "starduster.helper.Helper",
        }
    }
}

#[derive(Debug)]
struct RawArray {
    dtype: DType,
    shape: Vec<usize>,
    fortran: bool,
    data: Rc<[u8]>,
}

#[derive(Debug)]
enum Node {
    List(Vec<Item>),
    Tuple(Vec<Item>),
    Dict {
        items: Vec<(Item, Item)>,
        attrs: Option<Item>,
    },
    Set(Vec<Item>),
    Slice([Item; 3]),
    Storage {
        key: Rc<str>,
        location: Rc<str>,
        numel: usize,
    },
    Tensor(TensorRef),
    Dtype(DType),
    /// `None` until `BUILD` supplies the state.
    NdArray(Option<RawArray>),
    Object {
        class: Global,
        state: Option<Item>,
    },
}

/// Approximate heap cost of one arena node or container slot, for the memory budget.
const NODE_COST: usize = 64;
const ITEM_COST: usize = 32;

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    op_pos: usize,
    stack: Vec<Item>,
    marks: Vec<usize>,
    memo: HashMap<u32, Item>,
    nodes: Vec<Node>,
    budget: usize,
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

impl<'a> Vm<'a> {
    fn err(&self, message: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.op_pos,
            message: message.into(),
        }
    }

    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| {
            PickleError::LimitExceeded(format!(
                "building the value at byte {} would need too much memory for a {}-byte pickle",
                self.op_pos,
                self.data.len()
            ))
        })?;
        Ok(())
    }

    // --- reading the stream ---

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let slice = self
            .pos
            .checked_add(n)
            .and_then(|end| data.get(self.pos..end))
            .ok_or(PickleError::Truncated {
                offset: self.op_pos,
                what,
            })?;
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32_len(&mut self, what: &'static str) -> Result<usize> {
        let n = u32::from_le_bytes(self.array(what)?);
        usize::try_from(n).map_err(|_| self.err("length does not fit in memory"))
    }

    fn u64_len(&mut self, what: &'static str) -> Result<usize> {
        let n = u64::from_le_bytes(self.array(what)?);
        usize::try_from(n).map_err(|_| PickleError::Truncated {
            offset: self.op_pos,
            what,
        })
    }

    fn line(&mut self, what: &'static str) -> Result<&'a str> {
        let data: &'a [u8] = self.data;
        let rest = data.get(self.pos..).unwrap_or_default();
        let window = &rest[..rest.len().min(MAX_GLOBAL_LINE + 1)];
        let nl = window.iter().position(|&b| b == b'\n').ok_or_else(|| {
            self.err(format!("{what}: no newline within {MAX_GLOBAL_LINE} bytes"))
        })?;
        let line = std::str::from_utf8(&window[..nl])
            .map_err(|_| self.err(format!("{what} is not valid UTF-8")))?;
        self.pos += nl + 1;
        Ok(line)
    }

    fn text(&mut self, n: usize, what: &'static str) -> Result<Item> {
        let raw = self.take(n, what)?;
        let s =
            std::str::from_utf8(raw).map_err(|_| self.err(format!("{what} is not valid UTF-8")))?;
        self.charge(n)?;
        Ok(Item::Str(Rc::from(s)))
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<Item> {
        let raw = self.take(n, what)?;
        self.charge(n)?;
        Ok(Item::Bytes(Rc::from(raw)))
    }

    // --- stack helpers ---

    fn frame_base(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, item: Item) -> Result<()> {
        self.charge(ITEM_COST)?;
        self.stack.push(item);
        Ok(())
    }

    fn pop(&mut self) -> Result<Item> {
        if self.stack.len() <= self.frame_base() {
            return Err(self.err("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top(&self) -> Result<&Item> {
        if self.stack.len() <= self.frame_base() {
            return Err(self.err("stack underflow"));
        }
        self.stack.last().ok_or_else(|| self.err("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Item>> {
        let base = self
            .marks
            .pop()
            .ok_or_else(|| self.err("no MARK on the stack"))?;
        if base > self.stack.len() {
            return Err(self.err("MARK points past the stack"));
        }
        Ok(self.stack.split_off(base))
    }

    fn alloc(&mut self, node: Node) -> Result<Item> {
        self.charge(NODE_COST)?;
        self.nodes.push(node);
        Ok(Item::Node(self.nodes.len() - 1))
    }

    fn node_index(&self, item: &Item, what: &str) -> Result<usize> {
        match item {
            Item::Node(i) if *i < self.nodes.len() => Ok(*i),
            other => Err(self.err(format!(
                "{what}: expected a container, found {}",
                self.describe(other)
            ))),
        }
    }

    fn node_mut(&mut self, idx: usize) -> Result<&mut Node> {
        let offset = self.op_pos;
        self.nodes.get_mut(idx).ok_or(PickleError::Malformed {
            offset,
            message: "dangling container reference".into(),
        })
    }

    fn describe(&self, item: &Item) -> String {
        match item {
            Item::None => "None".into(),
            Item::Bool(_) => "bool".into(),
            Item::Int(_) => "int".into(),
            Item::Float(_) => "float".into(),
            Item::Str(_) => "str".into(),
            Item::Bytes(_) => "bytes".into(),
            Item::Global(g) => format!("global `{}`", g.name()),
            Item::Node(i) => match self.nodes.get(*i) {
                Some(Node::List(_)) => "list".into(),
                Some(Node::Tuple(_)) => "tuple".into(),
                Some(Node::Dict { .. }) => "dict".into(),
                Some(Node::Set(_)) => "set".into(),
                Some(Node::Slice(_)) => "slice".into(),
                Some(Node::Storage { .. }) => "torch storage".into(),
                Some(Node::Tensor(_)) => "torch tensor".into(),
                Some(Node::Dtype(_)) => "numpy dtype".into(),
                Some(Node::NdArray(_)) => "numpy array".into(),
                Some(Node::Object { class, .. }) => format!("`{}` object", class.name()),
                None => "dangling reference".into(),
            },
        }
    }

    fn tuple_items(&mut self, item: &Item, what: &str) -> Result<Vec<Item>> {
        let idx = self.node_index(item, what)?;
        let items = match self.nodes.get(idx) {
            Some(Node::Tuple(v)) => v.clone(),
            _ => {
                return Err(self.err(format!(
                    "{what}: expected a tuple, found {}",
                    self.describe(item)
                )));
            }
        };
        self.charge(items.len().saturating_mul(ITEM_COST))?;
        Ok(items)
    }

    fn int(&self, item: &Item, what: &str) -> Result<i64> {
        match item {
            Item::Int(v) => Ok(*v),
            Item::Bool(b) => Ok(i64::from(*b)),
            other => Err(self.err(format!(
                "{what}: expected an int, found {}",
                self.describe(other)
            ))),
        }
    }

    fn usize(&self, item: &Item, what: &str) -> Result<usize> {
        let v = self.int(item, what)?;
        usize::try_from(v)
            .map_err(|_| self.err(format!("{what}: expected a non-negative int, found {v}")))
    }

    fn str(&self, item: &Item, what: &str) -> Result<Rc<str>> {
        match item {
            Item::Str(s) => Ok(s.clone()),
            other => Err(self.err(format!(
                "{what}: expected a str, found {}",
                self.describe(other)
            ))),
        }
    }

    fn bool(&self, item: &Item, what: &str) -> Result<bool> {
        match item {
            Item::Bool(b) => Ok(*b),
            Item::Int(0) => Ok(false),
            Item::Int(1) => Ok(true),
            other => Err(self.err(format!(
                "{what}: expected a bool, found {}",
                self.describe(other)
            ))),
        }
    }

    fn dims(&mut self, item: &Item, what: &str) -> Result<Vec<usize>> {
        let items = self.tuple_items(item, what)?;
        if items.len() > MAX_NDIM {
            return Err(self.err(format!(
                "{what}: {} dimensions (at most {MAX_NDIM})",
                items.len()
            )));
        }
        items.iter().map(|i| self.usize(i, what)).collect()
    }

    fn dtype(&self, item: &Item, what: &str) -> Result<DType> {
        match item {
            Item::Node(i) => match self.nodes.get(*i) {
                Some(Node::Dtype(d)) => Ok(*d),
                _ => Err(self.err(format!(
                    "{what}: expected a numpy dtype, found {}",
                    self.describe(item)
                ))),
            },
            other => Err(self.err(format!(
                "{what}: expected a numpy dtype, found {}",
                self.describe(other)
            ))),
        }
    }

    // --- the loop ---

    fn run(&mut self) -> Result<Item> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8("opcode (missing STOP)")?;
            match op {
                0x80 => {
                    let proto = self.u8("PROTO argument")?;
                    if !(2..=5).contains(&proto) {
                        return Err(PickleError::UnsupportedProtocol(proto));
                    }
                }
                0x95 => {
                    // FRAME: only a read-ahead hint; the frame length is not needed.
                    self.take(8, "FRAME length")?;
                }
                b'.' => return self.pop(),
                b'(' => {
                    self.charge(ITEM_COST)?;
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    // As in CPython: POP on an empty frame discards the MARK instead.
                    if self.stack.len() <= self.frame_base() && !self.marks.is_empty() {
                        self.pop_mark()?;
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?.clone();
                    self.push(top)?;
                }
                b'N' => self.push(Item::None)?,
                0x88 => self.push(Item::Bool(true))?,
                0x89 => self.push(Item::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.array("BININT argument")?);
                    self.push(Item::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8("BININT1 argument")?;
                    self.push(Item::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array("BININT2 argument")?);
                    self.push(Item::Int(i64::from(v)))?;
                }
                0x8a => {
                    let n = usize::from(self.u8("LONG1 length")?);
                    self.long(n)?;
                }
                0x8b => {
                    let n = i32::from_le_bytes(self.array("LONG4 length")?);
                    let n =
                        usize::try_from(n).map_err(|_| self.err("LONG4 with a negative length"))?;
                    self.long(n)?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array("BINFLOAT argument")?);
                    self.push(Item::Float(v))?;
                }
                b'X' => {
                    let n = self.u32_len("BINUNICODE length")?;
                    let s = self.text(n, "BINUNICODE data")?;
                    self.push(s)?;
                }
                0x8c => {
                    let n = usize::from(self.u8("SHORT_BINUNICODE length")?);
                    let s = self.text(n, "SHORT_BINUNICODE data")?;
                    self.push(s)?;
                }
                0x8d => {
                    let n = self.u64_len("BINUNICODE8 length")?;
                    let s = self.text(n, "BINUNICODE8 data")?;
                    self.push(s)?;
                }
                b'B' => {
                    let n = self.u32_len("BINBYTES length")?;
                    let b = self.bytes(n, "BINBYTES data")?;
                    self.push(b)?;
                }
                b'C' => {
                    let n = usize::from(self.u8("SHORT_BINBYTES length")?);
                    let b = self.bytes(n, "SHORT_BINBYTES data")?;
                    self.push(b)?;
                }
                0x8e | 0x96 => {
                    let n = self.u64_len("BINBYTES8 length")?;
                    let b = self.bytes(n, "BINBYTES8 data")?;
                    self.push(b)?;
                }
                b']' => {
                    let l = self.alloc(Node::List(Vec::new()))?;
                    self.push(l)?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let l = self.alloc(Node::List(items))?;
                    self.push(l)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?.clone();
                    self.extend_list(&target, vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.extend_list(&target, items)?;
                }
                b')' => {
                    let t = self.alloc(Node::Tuple(Vec::new()))?;
                    self.push(t)?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let t = self.alloc(Node::Tuple(items))?;
                    self.push(t)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let t = self.alloc(Node::Tuple(items))?;
                    self.push(t)?;
                }
                b'}' => {
                    let d = self.alloc(Node::Dict {
                        items: Vec::new(),
                        attrs: None,
                    })?;
                    self.push(d)?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    let d = self.alloc(Node::Dict {
                        items: pairs,
                        attrs: None,
                    })?;
                    self.push(d)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?.clone();
                    self.extend_dict(&target, vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    let target = self.top()?.clone();
                    self.extend_dict(&target, pairs)?;
                }
                0x8f => {
                    let s = self.alloc(Node::Set(Vec::new()))?;
                    self.push(s)?;
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    let idx = self.node_index(&target, "ADDITEMS target")?;
                    match self.node_mut(idx)? {
                        Node::Set(v) => v.extend(items),
                        _ => return Err(self.err("ADDITEMS on something that is not a set")),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    let s = self.alloc(Node::Set(items))?;
                    self.push(s)?;
                }
                b'c' => {
                    let module = self.line("GLOBAL module")?;
                    let name = self.line("GLOBAL name")?;
                    let g = self.global(module, name)?;
                    self.push(Item::Global(g))?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let name = self.str(&name, "STACK_GLOBAL name")?;
                    let module = self.str(&module, "STACK_GLOBAL module")?;
                    let g = self.global(&module, &name)?;
                    self.push(Item::Global(g))?;
                }
                b'h' => {
                    let idx = u32::from(self.u8("BINGET index")?);
                    self.get(idx)?;
                }
                b'j' => {
                    let idx = u32::from_le_bytes(self.array("LONG_BINGET index")?);
                    self.get(idx)?;
                }
                b'q' => {
                    let idx = u32::from(self.u8("BINPUT index")?);
                    self.put(idx)?;
                }
                b'r' => {
                    let idx = u32::from_le_bytes(self.array("LONG_BINPUT index")?);
                    self.put(idx)?;
                }
                0x94 => {
                    let idx =
                        u32::try_from(self.memo.len()).map_err(|_| self.err("memo is full"))?;
                    self.put(idx)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = self.persistent_load(&pid)?;
                    self.push(storage)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let result = self.reduce(&callable, &args)?;
                    self.push(result)?;
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let obj = self.new_object(&cls, &args)?;
                    self.push(obj)?;
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let kw_empty = match &kwargs {
                        Item::Node(i) => matches!(
                            self.nodes.get(*i),
                            Some(Node::Dict { items, .. }) if items.is_empty()
                        ),
                        _ => false,
                    };
                    if !kw_empty {
                        return Err(self.err("NEWOBJ_EX with keyword arguments is not supported"));
                    }
                    let obj = self.new_object(&cls, &args)?;
                    self.push(obj)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?.clone();
                    self.build(&target, state)?;
                }
                other => {
                    return Err(PickleError::UnsupportedOpcode {
                        opcode: other,
                        name: opcode_name(other),
                        offset: self.op_pos,
                    });
                }
            }
        }
    }

    fn long(&mut self, n: usize) -> Result<()> {
        let raw = self.take(n, "LONG data")?;
        if n > 8 {
            return Err(self.err(format!("{n}-byte integer does not fit in 64 bits")));
        }
        let v = if n == 0 {
            0
        } else {
            let negative = raw.last().is_some_and(|b| b & 0x80 != 0);
            let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
            buf[..n].copy_from_slice(raw);
            i64::from_le_bytes(buf)
        };
        self.push(Item::Int(v))
    }

    fn global(&self, module: &str, name: &str) -> Result<Global> {
        Global::resolve(module, name).ok_or_else(|| PickleError::ForbiddenGlobal {
            name: format!("{module}.{name}"),
            offset: self.op_pos,
        })
    }

    fn get(&mut self, idx: u32) -> Result<()> {
        let item = self
            .memo
            .get(&idx)
            .cloned()
            .ok_or_else(|| self.err(format!("memo index {idx} was never stored")))?;
        self.push(item)
    }

    fn put(&mut self, idx: u32) -> Result<()> {
        let top = self.top()?.clone();
        self.charge(ITEM_COST)?;
        self.memo.insert(idx, top);
        Ok(())
    }

    fn pairs(&self, items: Vec<Item>) -> Result<Vec<(Item, Item)>> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("odd number of items for a dict"));
        }
        let mut out = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Ok(out)
    }

    fn extend_list(&mut self, target: &Item, items: Vec<Item>) -> Result<()> {
        let idx = self.node_index(target, "APPEND target")?;
        match self.node_mut(idx)? {
            Node::List(v) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(self.err(format!("APPEND on {}, not a list", self.describe(target)))),
        }
    }

    fn extend_dict(&mut self, target: &Item, pairs: Vec<(Item, Item)>) -> Result<()> {
        let idx = self.node_index(target, "SETITEM target")?;
        match self.node_mut(idx)? {
            Node::Dict { items, .. } => {
                // Duplicate keys are kept in order; lookups take the last one, as Python would.
                items.extend(pairs);
                Ok(())
            }
            _ => Err(self.err(format!("SETITEM on {}, not a dict", self.describe(target)))),
        }
    }

    /// `BINPERSID` of a PyTorch zip checkpoint: `('storage', StorageClass, key, location, numel)`.
    fn persistent_load(&mut self, pid: &Item) -> Result<Item> {
        let parts = self.tuple_items(pid, "persistent id")?;
        let [tag, class, key, location, numel] = parts.as_slice() else {
            return Err(self.err(format!(
                "persistent id: expected ('storage', class, key, location, numel), got {} items",
                parts.len()
            )));
        };
        if !matches!(tag, Item::Str(s) if &**s == "storage") {
            return Err(self.err("persistent id does not start with 'storage'"));
        }
        if !matches!(class, Item::Global(Global::FloatStorage)) {
            return Err(self.err(format!(
                "persistent id: storage class must be torch.FloatStorage, found {}",
                self.describe(class)
            )));
        }
        let key = self.str(key, "storage key")?;
        let location = self.str(location, "storage location")?;
        let numel = self.usize(numel, "storage size")?;
        self.alloc(Node::Storage {
            key,
            location,
            numel,
        })
    }

    fn reduce(&mut self, callable: &Item, args: &Item) -> Result<Item> {
        let Item::Global(g) = callable else {
            return Err(self.err(format!("REDUCE: cannot call {}", self.describe(callable))));
        };
        let g = *g;
        let args = self.tuple_items(args, "REDUCE arguments")?;
        let what = g.name();
        let bad_arity = |vm: &Self| {
            vm.err(format!(
                "{what}: unexpected arguments ({} given)",
                args.len()
            ))
        };
        match g {
            Global::OrderedDict => {
                if !args.is_empty() {
                    return Err(bad_arity(self));
                }
                self.alloc(Node::Dict {
                    items: Vec::new(),
                    attrs: None,
                })
            }
            Global::Set => {
                let items = match args.as_slice() {
                    [] => Vec::new(),
                    [src] => {
                        let idx = self.node_index(src, what)?;
                        let items = match self.nodes.get(idx) {
                            Some(Node::List(v) | Node::Tuple(v) | Node::Set(v)) => v.clone(),
                            _ => {
                                return Err(self
                                    .err(format!("{what}: argument is not a list, tuple or set")));
                            }
                        };
                        self.charge(items.len().saturating_mul(ITEM_COST))?;
                        items
                    }
                    _ => return Err(bad_arity(self)),
                };
                self.alloc(Node::Set(items))
            }
            Global::Slice => {
                let parts = match args.as_slice() {
                    [stop] => [Item::None, stop.clone(), Item::None],
                    [start, stop] => [start.clone(), stop.clone(), Item::None],
                    [start, stop, step] => [start.clone(), stop.clone(), step.clone()],
                    _ => return Err(bad_arity(self)),
                };
                self.alloc(Node::Slice(parts))
            }
            Global::RebuildTensorV2 => self.rebuild_tensor(&args),
            Global::NpReconstruct => {
                let [cls, _shape, _dtype_char] = args.as_slice() else {
                    return Err(bad_arity(self));
                };
                if !matches!(cls, Item::Global(Global::NpNdarray)) {
                    return Err(
                        self.err(format!("{what}: only numpy.ndarray can be reconstructed"))
                    );
                }
                self.alloc(Node::NdArray(None))
            }
            Global::NpScalar => {
                let [dtype, data] = args.as_slice() else {
                    return Err(bad_arity(self));
                };
                let dtype = self.dtype(dtype, what)?;
                let Item::Bytes(raw) = data else {
                    return Err(self.err(format!("{what}: scalar data must be bytes")));
                };
                let value = dtype
                    .decode(raw)
                    .map_err(|e| self.err(format!("{what}: {e}")))?;
                Ok(match value {
                    Value::Float(x) => Item::Float(x),
                    Value::Int(x) => Item::Int(x),
                    Value::Bool(x) => Item::Bool(x),
                    _ => return Err(self.err(format!("{what}: unsupported scalar"))),
                })
            }
            Global::NpDtype => {
                let (code, rest) = match args.as_slice() {
                    [code, rest @ ..] if rest.len() <= 2 => (code, rest),
                    _ => return Err(bad_arity(self)),
                };
                for flag in rest {
                    self.bool(flag, "numpy.dtype align/copy flag")?;
                }
                let code = self.str(code, "numpy.dtype code")?;
                let dtype = DType::from_code(&code)
                    .ok_or_else(|| self.err(format!("numpy dtype `{code}` is not supported")))?;
                self.alloc(Node::Dtype(dtype))
            }
            Global::CodecsEncode => {
                let [text, encoding] = args.as_slice() else {
                    return Err(bad_arity(self));
                };
                let text = self.str(text, what)?;
                let encoding = self.str(encoding, "_codecs.encode encoding")?;
                if !matches!(
                    &*encoding.to_ascii_lowercase(),
                    "latin1" | "latin-1" | "iso-8859-1"
                ) {
                    return Err(self.err(format!(
                        "_codecs.encode: encoding `{encoding}` is not supported"
                    )));
                }
                self.charge(text.len())?;
                let bytes: Vec<u8> = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| self.err("_codecs.encode: character outside latin-1"))?;
                Ok(Item::Bytes(Rc::from(bytes)))
            }
            Global::FloatStorage
            | Global::NpNdarray
            | Global::Tanh
            | Global::Sigmoid
            | Global::Helper => Err(self.err(format!("REDUCE: `{what}` cannot be called here"))),
        }
    }

    fn rebuild_tensor(&mut self, args: &[Item]) -> Result<Item> {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if !(6..=7).contains(&args.len()) {
            return Err(self.err(format!(
                "_rebuild_tensor_v2: expected 6 or 7 arguments, got {}",
                args.len()
            )));
        }
        let [storage, offset, size, stride, requires_grad, ..] = args else {
            return Err(self.err("_rebuild_tensor_v2: missing arguments"));
        };
        let sidx = self.node_index(storage, "_rebuild_tensor_v2 storage")?;
        let (key, location, numel) = match self.nodes.get(sidx) {
            Some(Node::Storage {
                key,
                location,
                numel,
            }) => (key.clone(), location.clone(), *numel),
            _ => return Err(self.err("_rebuild_tensor_v2: first argument is not a storage")),
        };
        let offset = self.usize(offset, "tensor storage offset")?;
        let shape = self.dims(size, "tensor size")?;
        let strides = self.dims(stride, "tensor stride")?;
        if shape.len() != strides.len() {
            return Err(self.err(format!(
                "tensor has {} dimensions but {} strides",
                shape.len(),
                strides.len()
            )));
        }
        let requires_grad = self.bool(requires_grad, "tensor requires_grad")?;
        self.charge(key.len() + location.len())?;
        self.alloc(Node::Tensor(TensorRef {
            storage_key: key.to_string(),
            dtype: TorchDtype::Float32,
            location: location.to_string(),
            storage_numel: numel,
            offset,
            shape,
            strides,
            requires_grad,
        }))
    }

    fn new_object(&mut self, cls: &Item, args: &Item) -> Result<Item> {
        let class = match cls {
            Item::Global(g @ (Global::Tanh | Global::Sigmoid | Global::Helper)) => *g,
            other => {
                return Err(self.err(format!(
                    "NEWOBJ: cannot instantiate {}",
                    self.describe(other)
                )));
            }
        };
        if !self.tuple_items(args, "NEWOBJ arguments")?.is_empty() {
            return Err(self.err(format!(
                "NEWOBJ: `{}` takes no arguments here",
                class.name()
            )));
        }
        self.alloc(Node::Object { class, state: None })
    }

    fn build(&mut self, target: &Item, state: Item) -> Result<()> {
        let idx = self.node_index(target, "BUILD target")?;
        // Work out what the state means before borrowing the target mutably.
        enum Update {
            Attrs(Item),
            Dtype(ByteOrder),
            Array(RawArray),
        }
        let update = match self.nodes.get(idx) {
            Some(Node::Object { state: None, .. }) => Update::Attrs(state),
            Some(Node::Dict { attrs: None, .. }) => {
                let ok = matches!(&state, Item::Node(i) if matches!(self.nodes.get(*i), Some(Node::Dict { .. })));
                if !ok {
                    return Err(self.err("BUILD on a dict needs a dict of attributes"));
                }
                Update::Attrs(state)
            }
            Some(Node::Dtype(d)) => Update::Dtype(self.dtype_state(*d, &state)?),
            Some(Node::NdArray(None)) => Update::Array(self.array_state(&state)?),
            _ => {
                return Err(self.err(format!(
                    "BUILD on {} is not supported",
                    self.describe(target)
                )));
            }
        };
        let offset = self.op_pos;
        match (self.node_mut(idx)?, update) {
            (Node::Object { state, .. } | Node::Dict { attrs: state, .. }, Update::Attrs(s)) => {
                *state = Some(s)
            }
            (Node::Dtype(d), Update::Dtype(order)) => d.byte_order = order,
            (Node::NdArray(slot), Update::Array(a)) => *slot = Some(a),
            _ => {
                return Err(PickleError::Malformed {
                    offset,
                    message: "BUILD target changed".into(),
                });
            }
        }
        Ok(())
    }

    /// numpy dtype state `(version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])`.
    fn dtype_state(&mut self, dtype: DType, state: &Item) -> Result<ByteOrder> {
        let parts = self.tuple_items(state, "numpy dtype state")?;
        let (order, rest) = match parts.as_slice() {
            [_version, order, rest @ ..] if (6..=7).contains(&rest.len()) => (order, rest),
            _ => {
                return Err(self.err(format!(
                    "numpy dtype state has {} items, expected 8 or 9",
                    parts.len()
                )));
            }
        };
        if rest.iter().take(3).any(|i| !matches!(i, Item::None)) {
            return Err(self.err("structured or sub-array numpy dtypes are not supported"));
        }
        let order = self.str(order, "numpy dtype byte order")?;
        let order = match (&*order, dtype.size) {
            ("<", _) => ByteOrder::Little,
            (">", _) => ByteOrder::Big,
            ("|", 1) => ByteOrder::NotApplicable,
            (o, _) => {
                return Err(self.err(format!(
                    "numpy dtype {}: byte order `{o}` is not supported",
                    dtype.code()
                )));
            }
        };
        Ok(order)
    }

    /// ndarray state `([version,] shape, dtype, is_fortran, raw_data)`.
    fn array_state(&mut self, state: &Item) -> Result<RawArray> {
        let parts = self.tuple_items(state, "numpy array state")?;
        let (shape, dtype, fortran, data) = match parts.as_slice() {
            [_, shape, dtype, fortran, data] | [shape, dtype, fortran, data] => {
                (shape, dtype, fortran, data)
            }
            _ => return Err(self.err(format!("numpy array state has {} items", parts.len()))),
        };
        let shape = self.dims(shape, "numpy array shape")?;
        let dtype = self.dtype(dtype, "numpy array dtype")?;
        let fortran = self.bool(fortran, "numpy array fortran flag")?;
        let Item::Bytes(data) = data else {
            return Err(self.err(format!(
                "numpy array data must be raw bytes, found {} (object arrays are not supported)",
                self.describe(data)
            )));
        };
        let expected = shape
            .iter()
            .try_fold(dtype.size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| self.err("numpy array shape overflows"))?;
        if expected != data.len() {
            return Err(self.err(format!(
                "numpy array of shape {shape:?} and dtype {} needs {expected} bytes, got {}",
                dtype.code(),
                data.len()
            )));
        }
        Ok(RawArray {
            dtype,
            shape,
            fortran,
            data: data.clone(),
        })
    }
}

/// Expands the arena into an owned [`Value`] tree under the remaining memory budget.
struct Materializer<'n> {
    nodes: &'n [Node],
    budget: usize,
}

impl Materializer<'_> {
    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| {
            PickleError::LimitExceeded(
                "the unpickled value would be far larger than the pickle (shared references expand too much)"
                    .into(),
            )
        })?;
        Ok(())
    }

    fn values(&mut self, items: &[Item], depth: usize) -> Result<Vec<Value>> {
        items.iter().map(|i| self.value(i, depth + 1)).collect()
    }

    fn value(&mut self, item: &Item, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(PickleError::LimitExceeded(format!(
                "containers nested deeper than {MAX_DEPTH} levels (or a self-referencing structure)"
            )));
        }
        self.charge(ITEM_COST)?;
        Ok(match item {
            Item::None => Value::None,
            Item::Bool(b) => Value::Bool(*b),
            Item::Int(v) => Value::Int(*v),
            Item::Float(v) => Value::Float(*v),
            Item::Str(s) => {
                self.charge(s.len())?;
                Value::Str(s.to_string())
            }
            Item::Bytes(b) => {
                self.charge(b.len())?;
                Value::Bytes(b.to_vec())
            }
            Item::Global(g) => {
                return Err(PickleError::Content(format!(
                    "global `{}` appears as a value; only instances are supported",
                    g.name()
                )));
            }
            Item::Node(i) => {
                let nodes = self.nodes;
                let node = nodes
                    .get(*i)
                    .ok_or_else(|| PickleError::Content("dangling container reference".into()))?;
                match node {
                    Node::List(v) => Value::List(self.values(v, depth)?),
                    Node::Tuple(v) => Value::Tuple(self.values(v, depth)?),
                    Node::Set(v) => Value::Set(self.values(v, depth)?),
                    Node::Dict { items, attrs } => {
                        let mut out = Vec::with_capacity(items.len());
                        for (k, v) in items {
                            out.push((self.value(k, depth + 1)?, self.value(v, depth + 1)?));
                        }
                        let attrs = match attrs {
                            Some(a) => Some(Box::new(self.value(a, depth + 1)?)),
                            None => None,
                        };
                        Value::Dict { items: out, attrs }
                    }
                    Node::Slice([a, b, c]) => Value::Slice {
                        start: Box::new(self.value(a, depth + 1)?),
                        stop: Box::new(self.value(b, depth + 1)?),
                        step: Box::new(self.value(c, depth + 1)?),
                    },
                    Node::Storage { .. } => {
                        return Err(PickleError::Content(
                            "a torch storage appears outside a tensor".into(),
                        ));
                    }
                    Node::Tensor(t) => {
                        self.charge(t.storage_key.len() + t.location.len() + 16 * t.shape.len())?;
                        Value::Tensor(t.clone())
                    }
                    Node::Dtype(d) => Value::Dtype(*d),
                    Node::NdArray(None) => {
                        return Err(PickleError::Content(
                            "a numpy array never received its data (missing BUILD)".into(),
                        ));
                    }
                    Node::NdArray(Some(a)) => {
                        self.charge(a.data.len())?;
                        Value::NdArray(NdArray {
                            dtype: a.dtype,
                            shape: a.shape.clone(),
                            fortran_order: a.fortran,
                            data: a.data.to_vec(),
                        })
                    }
                    Node::Object { class, state } => Value::Object {
                        class: class.name().to_string(),
                        state: match state {
                            Some(s) => Some(Box::new(self.value(s, depth + 1)?)),
                            None => None,
                        },
                    },
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small builder for hand-made pickle streams.
    #[derive(Default)]
    struct P(Vec<u8>);

    impl P {
        fn new() -> Self {
            P(vec![0x80, 2])
        }
        fn op(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
        fn s(mut self, s: &str) -> Self {
            self.0.push(b'X');
            self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
            self.0.extend_from_slice(s.as_bytes());
            self
        }
        fn b(mut self, b: &[u8]) -> Self {
            self.0.push(b'B');
            self.0.extend_from_slice(&(b.len() as u32).to_le_bytes());
            self.0.extend_from_slice(b);
            self
        }
        fn int(self, v: u8) -> Self {
            self.op(&[b'K', v])
        }
        fn global(self, m: &str, n: &str) -> Self {
            self.op(format!("c{m}\n{n}\n").as_bytes())
        }
        fn dtype(self, code: &str, order: &str) -> Self {
            self.global("numpy", "dtype")
                .s(code)
                .op(&[0x89, 0x88, 0x87, b'R', b'('])
                .int(3)
                .s(order)
                .op(b"NNN")
                .op(&[b'J', 0xff, 0xff, 0xff, 0xff, b'J', 0xff, 0xff, 0xff, 0xff])
                .int(0)
                .op(b"tb")
        }
        fn array(self, shape: &[u8], fortran: bool, code: &str, order: &str, data: &[u8]) -> Self {
            let mut p = self
                .global("numpy.core.multiarray", "_reconstruct")
                .global("numpy", "ndarray")
                .int(0)
                .op(&[0x85])
                .op(&[b'C', 1, b'b', 0x87, b'R', b'('])
                .int(1)
                .op(b"(");
            for &d in shape {
                p = p.int(d);
            }
            p.op(b"t")
                .dtype(code, order)
                .op(&[if fortran { 0x88 } else { 0x89 }])
                .b(data)
                .op(b"tb")
        }
    }

    #[test]
    fn parses_python_dict_with_memo() {
        // pickle.dumps({"a": [1, 2.5], "b": ("x", None, True)}, protocol=2)
        let bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00eX\x01\x00\x00\x00bq\x03X\x01\x00\x00\x00xq\x04N\x88\x87q\x05u.";
        let v = parse(bytes).unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Value::List(vec![Value::Int(1), Value::Float(2.5)]))
        );
        assert_eq!(
            v.get("b"),
            Some(&Value::Tuple(vec![
                Value::Str("x".into()),
                Value::None,
                Value::Bool(true)
            ]))
        );
    }

    #[test]
    fn memo_shares_objects_built_later() {
        // A dtype is memoised, then BUILD sets its byte order, then BINGET must see '>'.
        let p = P::new()
            .global("numpy", "dtype")
            .s("f8")
            .op(&[0x89, 0x88, 0x87, b'R', b'q', 7, b'('])
            .int(3)
            .s(">")
            .op(b"NNN")
            .op(&[b'J', 0xff, 0xff, 0xff, 0xff, b'J', 0xff, 0xff, 0xff, 0xff])
            .int(0)
            .op(b"tb0")
            .op(&[b'h', 7, b'.']);
        match parse(&p.0).unwrap() {
            Value::Dtype(d) => assert_eq!(d.byte_order, ByteOrder::Big),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn big_endian_and_fortran_arrays() {
        let data: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        let p = P::new().array(&[2, 3], true, "f8", ">", &data).op(b".");
        let Value::NdArray(a) = parse(&p.0).unwrap() else {
            panic!("not an array")
        };
        // Fortran storage [1..6] of a 2x3 array is [[1,3,5],[2,4,6]] in C order.
        assert_eq!(a.to_f64_vec().unwrap(), vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn array_conversions_check_dtypes() {
        let ints: Vec<u8> = [-1i32, 7].iter().flat_map(|x| x.to_le_bytes()).collect();
        let p = P::new().array(&[2], false, "i4", "<", &ints).op(b".");
        let Value::NdArray(a) = parse(&p.0).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(a.to_i64_vec().unwrap(), vec![-1, 7]);
        assert!(a.to_f64_vec().is_err());
        let floats: Vec<u8> = [0.1f32, -2.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let p = P::new().array(&[2], false, "f4", "<", &floats).op(b".");
        let Value::NdArray(a) = parse(&p.0).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(a.to_f32_vec().unwrap(), vec![0.1f32, -2.5]);
        assert!(a.to_i64_vec().is_err());
        let p = P::new()
            .array(&[1], false, "f8", "<", &1.5f64.to_le_bytes())
            .op(b".");
        let Value::NdArray(a) = parse(&p.0).unwrap() else {
            panic!("not an array")
        };
        assert!(a.to_f32_vec().is_err());
    }

    #[test]
    fn pop_on_an_empty_frame_discards_the_mark() {
        assert_eq!(parse(b"\x80\x02K\x05(0.").unwrap(), Value::Int(5));
    }

    #[test]
    fn numpy_scalar_and_slice() {
        let p = P::new()
            .global("builtins", "slice")
            .global("numpy.core.multiarray", "scalar")
            .dtype("i8", "<")
            .b(&(-5i64).to_le_bytes())
            .op(&[0x86, b'R'])
            .int(9)
            .op(&[b'N', 0x87, b'R', b'.']);
        assert_eq!(
            parse(&p.0).unwrap(),
            Value::Slice {
                start: Box::new(Value::Int(-5)),
                stop: Box::new(Value::Int(9)),
                step: Box::new(Value::None)
            }
        );
    }

    #[test]
    fn array_with_wrong_data_length_is_rejected() {
        let p = P::new().array(&[3], false, "f8", "<", &[0u8; 16]).op(b".");
        let err = parse(&p.0).unwrap_err();
        assert!(err.to_string().contains("needs 24 bytes, got 16"), "{err}");
    }

    #[test]
    fn forbidden_globals_are_refused() {
        let p = P::new()
            .global("os", "system")
            .s("echo hi")
            .op(&[0x85, b'R', b'.']);
        let err = parse(&p.0).unwrap_err();
        assert!(
            matches!(&err, PickleError::ForbiddenGlobal { name, .. } if name == "os.system"),
            "{err}"
        );
        let p = P::new().s("posix").s("system").op(&[0x93, b'.']);
        assert!(matches!(
            parse(&p.0),
            Err(PickleError::ForbiddenGlobal { .. })
        ));
    }

    #[test]
    fn structural_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x80\x02", "truncated"),
            (b"\x80\x02X\xff\x00\x00\x00ab", "truncated"),
            (b"\x80\x02\x86.", "stack underflow"),
            (b"\x80\x02h\x05.", "memo index 5"),
            (b"\x80\x02K\x01K\x02a.", "expected a container, found int"),
            (b"\x80\x02)K\x02a.", "not a list"),
            (b"\x80\x02K\x01(.", "stack underflow"),
            (b"\x80\x07N.", "protocol 7"),
            (b"\x80\x02I1\n.", "INT"),
            (b"\x80\x02\x8b\xff\xff\xff\x7f.", "truncated"),
            (
                b"\x80\x02\x8a\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01.",
                "64 bits",
            ),
        ];
        for (bytes, needle) in cases {
            let err = parse(bytes).unwrap_err().to_string();
            assert!(err.contains(needle), "{bytes:?}: `{err}` lacks `{needle}`");
        }
    }

    #[test]
    fn expansion_and_depth_are_bounded() {
        // "Billion laughs": each level is a list holding the previous level 10 times.
        let mut p = P::new().op(b"]q\x00");
        for level in 0..40u8 {
            p = p.op(b"(");
            for _ in 0..10 {
                p = p.op(&[b'h', level]);
            }
            p = p.op(&[b'l', b'q', level + 1]);
        }
        let err = parse(&p.op(b".").0).unwrap_err();
        assert!(matches!(err, PickleError::LimitExceeded(_)), "{err}");

        // A list that contains itself.
        let p = P::new().op(b"]q\x00h\x00a.");
        assert!(matches!(parse(&p.0), Err(PickleError::LimitExceeded(_))));
    }

    #[test]
    fn long_integers() {
        let p = P::new().op(&[0x8a, 2, 0x00, 0x80, b'.']);
        assert_eq!(parse(&p.0).unwrap(), Value::Int(-32768));
        let p = P::new().op(&[0x8a, 0, b'.']);
        assert_eq!(parse(&p.0).unwrap(), Value::Int(0));
    }
}
