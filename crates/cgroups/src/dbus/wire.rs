//! The D-Bus wire format (little-endian): values, their signatures, and the alignment rules
//! of the specification's "Marshaling" section. Offsets are counted from the start of the
//! message; a body starts 8-aligned, so counting from the body's start gives the same padding.

use std::fmt;

/// A D-Bus value of one of the types hull's calls use.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Str(String),
    ObjectPath(String),
    Signature(String),
    /// The element signature (so that an empty array still has a type) and the elements.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    /// A dict entry `{kv}`; only ever an array's element.
    DictEntry(Box<Value>, Box<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn variant(v: Value) -> Value {
        Value::Variant(Box::new(v))
    }

    /// `a(sv)`-style arrays and the like: the element type is spelled out.
    pub fn array(elem: &str, items: Vec<Value>) -> Value {
        Value::Array(elem.to_string(), items)
    }

    /// This value's type signature.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::ObjectPath(_) => "o".into(),
            Value::Signature(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(fields) => {
                let inner: String = fields.iter().map(Value::signature).collect();
                format!("({inner})")
            }
            Value::DictEntry(k, v) => format!("{{{}{}}}", k.signature(), v.signature()),
            Value::Variant(_) => "v".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Byte(v) => Some(u64::from(*v)),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U64(v) => Some(*v),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The value inside a variant (or the value itself).
    pub fn inner(&self) -> &Value {
        match self {
            Value::Variant(v) => v.inner(),
            other => other,
        }
    }
}

/// Malformed data on the wire, or a signature hull cannot handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(msg: impl Into<String>) -> WireError {
    WireError(msg.into())
}

/// The alignment of a type, from its first signature character.
fn alignment(code: u8) -> usize {
    match code {
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 1, // y, g, v
    }
}

/// Splits the first complete type off a signature: "a(sv)s" → ("a(sv)", "s").
pub fn split_first(sig: &str) -> Result<(&str, &str), WireError> {
    let bytes = sig.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] == b'a' {
        i += 1;
    }
    let first = *bytes
        .get(i)
        .ok_or_else(|| bad(format!("signature {sig:?} ends inside an array type")))?;
    let end = match first {
        b'(' | b'{' => {
            let close = if first == b'(' { b')' } else { b'}' };
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match bytes.get(j) {
                    Some(c) if *c == first => depth += 1,
                    Some(c) if *c == close => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Some(_) => {}
                    None => {
                        return Err(bad(format!(
                            "signature {sig:?}: unbalanced {}",
                            first as char
                        )))
                    }
                }
                j += 1;
            }
            j + 1
        }
        b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b's' | b'o' | b'g'
        | b'v' | b'h' => i + 1,
        other => {
            return Err(bad(format!(
                "signature {sig:?}: unknown type code {:?}",
                other as char
            )))
        }
    };
    Ok(sig.split_at(end))
}

/// Marshals values into a buffer whose offset 0 is 8-aligned.
#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn pad(&mut self, align: usize) {
        let len = self.buf.len().div_ceil(align) * align;
        self.buf.resize(len, 0);
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    pub fn put(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I32(i) => {
                self.pad(4);
                self.buf.extend_from_slice(&i.to_le_bytes());
            }
            Value::U32(u) => self.u32(*u),
            Value::I64(i) => {
                self.pad(8);
                self.buf.extend_from_slice(&i.to_le_bytes());
            }
            Value::U64(u) => {
                self.pad(8);
                self.buf.extend_from_slice(&u.to_le_bytes());
            }
            Value::Str(s) | Value::ObjectPath(s) => self.string(s),
            Value::Signature(s) => self.signature(s),
            Value::Array(elem, items) => {
                self.u32(0);
                let len_at = self.buf.len() - 4;
                // The padding to the first element is there even for an empty array, and is
                // not counted in the length.
                self.pad(alignment(elem.as_bytes().first().copied().unwrap_or(b'y')));
                let start = self.buf.len();
                for item in items {
                    self.put(item);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.pad(8);
                for f in fields {
                    self.put(f);
                }
            }
            Value::DictEntry(k, val) => {
                self.pad(8);
                self.put(k);
                self.put(val);
            }
            Value::Variant(inner) => {
                self.signature(&inner.signature());
                self.put(inner);
            }
        }
    }
}

/// Marshals a message body (offset 0 = the body's start).
pub fn encode(values: &[Value]) -> Vec<u8> {
    let mut e = Encoder::default();
    for v in values {
        e.put(v);
    }
    e.buf
}

/// Unmarshals values from a buffer; `pos` counts from an 8-aligned start.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pub pos: usize,
}

/// Variants nest; a hostile peer could nest them without end.
const MAX_DEPTH: usize = 64;

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Decoder<'a> {
        Decoder { buf, pos: 0 }
    }

    fn align(&mut self, align: usize) -> Result<(), WireError> {
        let to = self.pos.div_ceil(align) * align;
        if to > self.buf.len() {
            return Err(bad("message truncated (padding)"));
        }
        self.pos = to;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                bad(format!(
                    "message truncated: {n} bytes at offset {}",
                    self.pos
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.align(N)?;
        Ok(self.take(N)?.try_into().expect("length checked"))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.fixed::<4>()?))
    }

    fn text(&mut self, len: usize) -> Result<String, WireError> {
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return Err(bad("string not NUL-terminated"));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }

    /// Reads every value of `sig`, in order.
    pub fn values(&mut self, sig: &str) -> Result<Vec<Value>, WireError> {
        let mut out = Vec::new();
        let mut rest = sig;
        while !rest.is_empty() {
            let (first, tail) = split_first(rest)?;
            out.push(self.value(first, 0)?);
            rest = tail;
        }
        Ok(out)
    }

    /// Reads one value of the single complete type `sig`.
    pub fn value(&mut self, sig: &str, depth: usize) -> Result<Value, WireError> {
        if depth > MAX_DEPTH {
            return Err(bad("values nested too deeply"));
        }
        let code = sig.as_bytes()[0];
        Ok(match code {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(bad(format!("boolean with value {other}"))),
            },
            b'i' => Value::I32(i32::from_le_bytes(self.fixed::<4>()?)),
            b'u' => Value::U32(self.u32()?),
            b'x' => Value::I64(i64::from_le_bytes(self.fixed::<8>()?)),
            b't' => Value::U64(u64::from_le_bytes(self.fixed::<8>()?)),
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let s = self.text(len)?;
                if code == b's' {
                    Value::Str(s)
                } else {
                    Value::ObjectPath(s)
                }
            }
            b'g' => {
                let len = usize::from(self.take(1)?[0]);
                Value::Signature(self.text(len)?)
            }
            b'v' => {
                let len = usize::from(self.take(1)?[0]);
                let inner = self.text(len)?;
                let (one, rest) = split_first(&inner)?;
                if !rest.is_empty() {
                    return Err(bad(format!("variant signature {inner:?} is not one type")));
                }
                Value::Variant(Box::new(self.value(one, depth + 1)?))
            }
            b'a' => {
                let len = self.u32()? as usize;
                if len > 64 << 20 {
                    return Err(bad(format!("array of {len} bytes")));
                }
                let elem = &sig[1..];
                self.align(alignment(elem.as_bytes()[0]))?;
                let end = self.pos + len;
                if end > self.buf.len() {
                    return Err(bad("message truncated (array)"));
                }
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.value(elem, depth + 1)?);
                }
                if self.pos != end {
                    return Err(bad("array elements overrun the array's length"));
                }
                Value::Array(elem.to_string(), items)
            }
            b'(' => {
                self.align(8)?;
                let mut fields = Vec::new();
                let mut rest = &sig[1..sig.len() - 1];
                while !rest.is_empty() {
                    let (first, tail) = split_first(rest)?;
                    fields.push(self.value(first, depth + 1)?);
                    rest = tail;
                }
                Value::Struct(fields)
            }
            b'{' => {
                self.align(8)?;
                let (k, v) = split_first(&sig[1..sig.len() - 1])?;
                let key = self.value(k, depth + 1)?;
                let val = self.value(v, depth + 1)?;
                Value::DictEntry(Box::new(key), Box::new(val))
            }
            other => return Err(bad(format!("cannot decode type {:?}", other as char))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(values: &[Value]) {
        let sig: String = values.iter().map(Value::signature).collect();
        let bytes = encode(values);
        let back = Decoder::new(&bytes).values(&sig).unwrap();
        assert_eq!(back, values);
    }

    #[test]
    fn basic_types_byte_exact() {
        assert_eq!(encode(&[Value::Byte(7)]), [7]);
        assert_eq!(encode(&[Value::Bool(true)]), [1, 0, 0, 0]);
        assert_eq!(encode(&[Value::U32(0x0102_0304)]), [4, 3, 2, 1]);
        assert_eq!(encode(&[Value::I32(-2)]), [0xfe, 0xff, 0xff, 0xff]);
        assert_eq!(encode(&[Value::U64(1)]), [1, 0, 0, 0, 0, 0, 0, 0]);
        // y then t: seven bytes of padding before the 8-aligned u64.
        assert_eq!(
            encode(&[Value::Byte(1), Value::U64(u64::MAX)]),
            [1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(encode(&[Value::str("ab")]), [2, 0, 0, 0, b'a', b'b', 0]);
        assert_eq!(encode(&[Value::Signature("as".into())]), [2, b'a', b's', 0]);
    }

    #[test]
    fn variants_and_arrays_byte_exact() {
        // v holding u32 5: signature "u", pad to 4, the value.
        assert_eq!(
            encode(&[Value::variant(Value::U32(5))]),
            [1, b'u', 0, 0, 5, 0, 0, 0]
        );
        // au [1, 2]: length 8, then the elements.
        assert_eq!(
            encode(&[Value::array("u", vec![Value::U32(1), Value::U32(2)])]),
            [8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]
        );
        // ay [0x0f] (AllowedCPUs=0-3).
        assert_eq!(
            encode(&[Value::array("y", vec![Value::Byte(0x0f)])]),
            [1, 0, 0, 0, 0x0f]
        );
        // An empty a(sv) still pads to the 8-aligned element position; the length is 0.
        assert_eq!(
            encode(&[Value::array("(sv)", vec![])]),
            [0, 0, 0, 0, 0, 0, 0, 0]
        );
        // a(ss) with one entry: length 4, pad to 8, then the struct; the length counts from
        // the first element and excludes that padding.
        let a = Value::array(
            "(ss)",
            vec![Value::Struct(vec![
                Value::str("/dev/null"),
                Value::str("rw"),
            ])],
        );
        let mut want = vec![23, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&[9, 0, 0, 0]);
        want.extend_from_slice(b"/dev/null\0");
        want.extend_from_slice(&[0, 0]); // pad to 4 for the next string
        want.extend_from_slice(&[2, 0, 0, 0, b'r', b'w', 0]);
        assert_eq!(encode(&[a]), want);
    }

    #[test]
    fn start_transient_unit_body() {
        // StartTransientUnit("a.scope", "replace", [("PIDs", <au [7]>)], []) — "ssa(sv)a(sa(sv))".
        let body = [
            Value::str("a.scope"),
            Value::str("replace"),
            Value::array(
                "(sv)",
                vec![Value::Struct(vec![
                    Value::str("PIDs"),
                    Value::variant(Value::array("u", vec![Value::U32(7)])),
                ])],
            ),
            Value::array("(sa(sv))", vec![]),
        ];
        let sig: String = body.iter().map(Value::signature).collect();
        assert_eq!(sig, "ssa(sv)a(sa(sv))");
        let mut want = Vec::new();
        want.extend_from_slice(&[7, 0, 0, 0]);
        want.extend_from_slice(b"a.scope\0"); // ends at 12
        want.extend_from_slice(&[7, 0, 0, 0]);
        want.extend_from_slice(b"replace\0"); // ends at 24
        want.extend_from_slice(&[24, 0, 0, 0]); // a(sv) length; ends at 28
        want.extend_from_slice(&[0, 0, 0, 0]); // pad to 32 (struct alignment)
        want.extend_from_slice(&[4, 0, 0, 0]);
        want.extend_from_slice(b"PIDs\0"); // ends at 41
        want.extend_from_slice(&[2, b'a', b'u', 0]); // variant signature; ends at 45
        want.extend_from_slice(&[0, 0, 0]); // pad to 48
        want.extend_from_slice(&[4, 0, 0, 0, 7, 0, 0, 0]); // au [7]; ends at 56 = 32 + 24
        want.extend_from_slice(&[0, 0, 0, 0]); // a(sa(sv)) length 0, then pad to 64
        want.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(encode(&body), want);
        roundtrip(&body);
    }

    #[test]
    fn roundtrips() {
        roundtrip(&[
            Value::Byte(1),
            Value::Bool(false),
            Value::I64(-5),
            Value::ObjectPath("/org/freedesktop/systemd1/job/42".into()),
            Value::array(
                "{sv}",
                vec![Value::DictEntry(
                    Box::new(Value::str("k")),
                    Box::new(Value::variant(Value::array("s", vec![Value::str("x")]))),
                )],
            ),
            Value::Struct(vec![Value::U32(3), Value::str("done")]),
        ]);
    }

    #[test]
    fn signatures_split() {
        assert_eq!(split_first("a(sv)s").unwrap(), ("a(sv)", "s"));
        assert_eq!(split_first("a{sa(ss)}u").unwrap(), ("a{sa(ss)}", "u"));
        assert_eq!(split_first("uoss").unwrap(), ("u", "oss"));
        assert!(split_first("a").is_err());
        assert!(split_first("(s").is_err());
        assert!(split_first("z").is_err());
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(Decoder::new(&[1, 0]).values("u").is_err());
        assert!(Decoder::new(&[2, 0, 0, 0]).values("b").is_err());
        assert!(Decoder::new(&[5, 0, 0, 0, b'a', 0]).values("s").is_err());
        assert!(Decoder::new(&[0xff, 0xff, 0xff, 0x7f])
            .values("ay")
            .is_err());
    }
}
