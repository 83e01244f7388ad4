//! D-Bus messages: the fixed header, the header fields and the body.

use super::wire::{encode, Decoder, Encoder, Value, WireError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MethodCall = 1,
    MethodReturn = 2,
    Error = 3,
    Signal = 4,
}

/// Header field codes (specification, "Header Fields").
mod field {
    pub const PATH: u8 = 1;
    pub const INTERFACE: u8 = 2;
    pub const MEMBER: u8 = 3;
    pub const ERROR_NAME: u8 = 4;
    pub const REPLY_SERIAL: u8 = 5;
    pub const DESTINATION: u8 = 6;
    pub const SENDER: u8 = 7;
    pub const SIGNATURE: u8 = 8;
}

/// The most a message may be (specification: 128 MiB).
const MAX_MESSAGE: usize = 128 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: Kind,
    pub serial: u32,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub destination: Option<String>,
    pub sender: Option<String>,
    pub body: Vec<Value>,
}

impl Message {
    pub fn method_call(
        dest: &str,
        path: &str,
        iface: &str,
        member: &str,
        body: Vec<Value>,
    ) -> Self {
        Message {
            kind: Kind::MethodCall,
            serial: 0,
            path: Some(path.into()),
            interface: Some(iface.into()),
            member: Some(member.into()),
            error_name: None,
            reply_serial: None,
            destination: Some(dest.into()),
            sender: None,
            body,
        }
    }

    /// The body's signature.
    pub fn signature(&self) -> String {
        self.body.iter().map(Value::signature).collect()
    }

    /// The wire form, little-endian, with `serial`.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let body = encode(&self.body);
        let sig = self.signature();
        let mut fields = Vec::new();
        let mut field = |code: u8, v: Value| {
            fields.push(Value::Struct(vec![Value::Byte(code), Value::variant(v)]));
        };
        if let Some(p) = &self.path {
            field(field::PATH, Value::ObjectPath(p.clone()));
        }
        if let Some(i) = &self.interface {
            field(field::INTERFACE, Value::str(i));
        }
        if let Some(m) = &self.member {
            field(field::MEMBER, Value::str(m));
        }
        if let Some(e) = &self.error_name {
            field(field::ERROR_NAME, Value::str(e));
        }
        if let Some(r) = self.reply_serial {
            field(field::REPLY_SERIAL, Value::U32(r));
        }
        if let Some(d) = &self.destination {
            field(field::DESTINATION, Value::str(d));
        }
        if let Some(s) = &self.sender {
            field(field::SENDER, Value::str(s));
        }
        if !sig.is_empty() {
            field(field::SIGNATURE, Value::Signature(sig));
        }
        let mut e = Encoder::default();
        for v in [
            Value::Byte(b'l'),
            Value::Byte(self.kind as u8),
            Value::Byte(0), // flags
            Value::Byte(1), // protocol version
            Value::U32(body.len() as u32),
            Value::U32(serial),
            Value::array("(yv)", fields),
        ] {
            e.put(&v);
        }
        e.pad(8);
        e.buf.extend_from_slice(&body);
        e.buf
    }

    /// How many bytes the message starting `buf` needs in all, once its first 16 bytes are in.
    pub fn wire_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
        if buf.len() < 16 {
            return Ok(None);
        }
        if buf[0] != b'l' {
            return Err(WireError(format!(
                "message in byte order {:?}: only little-endian is supported",
                buf[0] as char
            )));
        }
        let u32_at =
            |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes")) as usize;
        let (body, fields) = (u32_at(4), u32_at(12));
        let total = (16 + fields).div_ceil(8) * 8 + body;
        if total > MAX_MESSAGE {
            return Err(WireError(format!("message of {total} bytes")));
        }
        Ok(Some(total))
    }

    /// Parses one whole message (exactly `wire_len` bytes).
    pub fn decode(buf: &[u8]) -> Result<Message, WireError> {
        let mut d = Decoder::new(buf);
        let head = d.values("yyyyuua(yv)")?;
        let kind = match head[1] {
            Value::Byte(1) => Kind::MethodCall,
            Value::Byte(2) => Kind::MethodReturn,
            Value::Byte(3) => Kind::Error,
            Value::Byte(4) => Kind::Signal,
            ref other => return Err(WireError(format!("unknown message type {other:?}"))),
        };
        let serial = match head[5] {
            Value::U32(s) => s,
            _ => unreachable!("decoded by signature"),
        };
        let mut m = Message {
            kind,
            serial,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            reply_serial: None,
            destination: None,
            sender: None,
            body: Vec::new(),
        };
        let mut sig = String::new();
        if let Value::Array(_, fields) = &head[6] {
            for f in fields {
                let Value::Struct(pair) = f else { continue };
                let (Value::Byte(code), v) = (&pair[0], pair[1].inner()) else {
                    continue;
                };
                let text = v.as_str().map(String::from);
                match *code {
                    field::PATH => m.path = text,
                    field::INTERFACE => m.interface = text,
                    field::MEMBER => m.member = text,
                    field::ERROR_NAME => m.error_name = text,
                    field::REPLY_SERIAL => m.reply_serial = v.as_u64().map(|s| s as u32),
                    field::DESTINATION => m.destination = text,
                    field::SENDER => m.sender = text,
                    field::SIGNATURE => sig = text.unwrap_or_default(),
                    _ => {} // unknown fields are to be ignored
                }
            }
        }
        let body_start = d.pos.div_ceil(8) * 8;
        let body = buf
            .get(body_start..)
            .ok_or_else(|| WireError("message truncated (header)".into()))?;
        let mut bd = Decoder::new(body);
        m.body = bd.values(&sig)?;
        if bd.pos != body.len() {
            return Err(WireError(format!(
                "body has {} bytes past its signature {sig:?}",
                body.len() - bd.pos
            )));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_byte_exact() {
        // org.freedesktop.DBus.Hello, serial 1: what every client sends first.
        let m = Message::method_call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            vec![],
        );
        let mut want: Vec<u8> = vec![b'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0];
        want.extend_from_slice(&[109, 0, 0, 0]); // header fields: 16..125
                                                 // (PATH, o "/org/freedesktop/DBus") at 16
        want.extend_from_slice(&[1, 1, b'o', 0, 21, 0, 0, 0]);
        want.extend_from_slice(b"/org/freedesktop/DBus\0"); // to 46
        want.extend_from_slice(&[0, 0]); // pad to 48
                                         // (INTERFACE, s "org.freedesktop.DBus")
        want.extend_from_slice(&[2, 1, b's', 0, 20, 0, 0, 0]);
        want.extend_from_slice(b"org.freedesktop.DBus\0"); // to 77
        want.extend_from_slice(&[0, 0, 0]); // pad to 80
                                            // (MEMBER, s "Hello")
        want.extend_from_slice(&[3, 1, b's', 0, 5, 0, 0, 0]);
        want.extend_from_slice(b"Hello\0"); // to 94
        want.extend_from_slice(&[0, 0]); // pad to 96
                                         // (DESTINATION, s "org.freedesktop.DBus")
        want.extend_from_slice(&[6, 1, b's', 0, 20, 0, 0, 0]);
        want.extend_from_slice(b"org.freedesktop.DBus\0"); // to 125
        want.resize(128, 0); // pad the header to 8
        let got = m.encode(1);
        assert_eq!(got, want);
        assert_eq!(Message::wire_len(&got).unwrap(), Some(128));
        let back = Message::decode(&got).unwrap();
        assert_eq!(back.member.as_deref(), Some("Hello"));
        assert_eq!(back.serial, 1);
    }

    #[test]
    fn reply_roundtrip() {
        let m = Message {
            kind: Kind::Error,
            serial: 9,
            path: None,
            interface: None,
            member: None,
            error_name: Some("org.freedesktop.DBus.Error.NameHasNoOwner".into()),
            reply_serial: Some(3),
            destination: Some(":1.4".into()),
            sender: Some("org.freedesktop.DBus".into()),
            body: vec![Value::str("no owner")],
        };
        let bytes = m.encode(9);
        assert_eq!(Message::wire_len(&bytes).unwrap(), Some(bytes.len()));
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn rejects_big_endian_and_garbage() {
        let mut b = vec![b'B'; 16];
        assert!(Message::wire_len(&b).is_err());
        b[0] = b'l';
        b[1] = 9;
        b[4..16].fill(0);
        assert!(Message::decode(&b).is_err());
    }
}
