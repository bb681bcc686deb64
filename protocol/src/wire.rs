//! The frames of the delivery protocol and their encoding (see `PROTOCOL.md` at the repository root).
//!
//! Text frames are JSON objects whose first key is `"t"`, the frame type; data frames carrying
//! a binary message are binary WebSocket messages: the byte `0x64` (`'d'`), the seq as an
//! 8-byte big-endian unsigned integer, then the message bytes.
//!
//! Decoding is strict about what it reads and lenient about what it does not know: `decode_*`
//! returns `None` for anything that is not a valid frame of that direction (text that is not
//! JSON, such as the heartbeat `"ping"`; an unknown or other-direction `"t"`; a missing key or
//! a key of the wrong type; a seq or count of 2^53 or more; a data or nack seq of 0; a binary
//! message shorter than 9 bytes or not starting with `0x64`). Keys it does not know are
//! ignored, so that a later version may add some.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Sequence numbers and counts are below 2^53, so that JSON numbers are exact in JavaScript.
pub const MAX_SEQ: u64 = (1 << 53) - 1;

/// The first byte of a binary data frame.
pub const BINARY_DATA_TAG: u8 = 0x64;

/// One WebSocket message: a protocol frame on the wire, or an application message inside a
/// data frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

/// A frame the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// The first frame on every open: `inbound` is the last server seq delivered to the app
    /// (0 if none).
    Hello { sid: String, inbound: u64 },
    /// One application message, numbered from 1.
    Data { seq: u64, payload: Msg },
    /// Cumulative acknowledgement of the server's data frames.
    Ack { upto: u64 },
}

/// A frame the server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerFrame {
    /// The answer to a hello: `out` is the highest client seq the server has accepted (0 if
    /// none); `resumed` is false when the server had no state for the session.
    Welcome { out: u64, resumed: bool },
    /// Cumulative acknowledgement of the client's data frames.
    Ack { upto: u64 },
    /// Refusal of one client message (accepted, so not resent, but not applied).
    Nack { seq: u64, error: String },
    /// One server message, numbered from 1.
    Data { seq: u64, payload: Msg },
}

/// The JSON form of every text frame, both directions. Serde writes the tag `t` first, then
/// the fields in declaration order: the key order of the spec.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t")]
enum Json<'a> {
    #[serde(rename = "hello")]
    Hello {
        sid: Cow<'a, str>,
        #[serde(rename = "in")]
        inbound: u64,
    },
    #[serde(rename = "welcome")]
    Welcome { out: u64, resumed: bool },
    #[serde(rename = "d")]
    Data { s: u64, p: Cow<'a, str> },
    #[serde(rename = "a")]
    Ack { s: u64 },
    #[serde(rename = "n")]
    Nack { s: u64, e: Cow<'a, str> },
}

fn to_json(frame: &Json) -> Msg {
    Msg::Text(serde_json::to_string(frame).expect("a frame always serializes"))
}

/// A data frame: JSON for a text payload, the binary form for a binary one.
fn encode_data(seq: u64, payload: &Msg) -> Msg {
    match payload {
        Msg::Text(p) => to_json(&Json::Data {
            s: seq,
            p: Cow::Borrowed(p),
        }),
        Msg::Binary(bytes) => {
            let mut out = Vec::with_capacity(9 + bytes.len());
            out.push(BINARY_DATA_TAG);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(bytes);
            Msg::Binary(out)
        }
    }
}

/// A decoded message: a JSON frame of either direction, or a binary data frame.
enum Decoded<'a> {
    Json(Json<'a>),
    BinaryData { seq: u64, bytes: &'a [u8] },
}

fn decode(m: &Msg) -> Option<Decoded<'_>> {
    let decoded = match m {
        Msg::Text(text) => Decoded::Json(serde_json::from_str(text).ok()?),
        Msg::Binary(bytes) => {
            let (&tag, rest) = bytes.split_first()?;
            let (seq, bytes) = rest.split_first_chunk::<8>()?;
            if tag != BINARY_DATA_TAG {
                return None;
            }
            Decoded::BinaryData {
                seq: u64::from_be_bytes(*seq),
                bytes,
            }
        }
    };
    let valid = match &decoded {
        Decoded::Json(Json::Hello { inbound: n, .. })
        | Decoded::Json(Json::Welcome { out: n, .. })
        | Decoded::Json(Json::Ack { s: n }) => *n <= MAX_SEQ,
        Decoded::Json(Json::Data { s: seq, .. })
        | Decoded::Json(Json::Nack { s: seq, .. })
        | Decoded::BinaryData { seq, .. } => (1..=MAX_SEQ).contains(seq),
    };
    valid.then_some(decoded)
}

/// The payload of a data frame of either direction.
fn data_payload(decoded: Decoded) -> Option<(u64, Msg)> {
    match decoded {
        Decoded::Json(Json::Data { s, p }) => Some((s, Msg::Text(p.into_owned()))),
        Decoded::BinaryData { seq, bytes } => Some((seq, Msg::Binary(bytes.to_vec()))),
        Decoded::Json(_) => None,
    }
}

/// Encodes a client frame as the WebSocket message to send.
pub fn encode_client(f: &ClientFrame) -> Msg {
    match f {
        ClientFrame::Hello { sid, inbound } => to_json(&Json::Hello {
            sid: Cow::Borrowed(sid),
            inbound: *inbound,
        }),
        ClientFrame::Data { seq, payload } => encode_data(*seq, payload),
        ClientFrame::Ack { upto } => to_json(&Json::Ack { s: *upto }),
    }
}

/// Decodes a message received by the server; `None` if it is not a valid client frame.
pub fn decode_client(m: &Msg) -> Option<ClientFrame> {
    match decode(m)? {
        Decoded::Json(Json::Hello { sid, inbound }) => Some(ClientFrame::Hello {
            sid: sid.into_owned(),
            inbound,
        }),
        Decoded::Json(Json::Ack { s }) => Some(ClientFrame::Ack { upto: s }),
        Decoded::Json(Json::Welcome { .. } | Json::Nack { .. }) => None,
        data => data_payload(data).map(|(seq, payload)| ClientFrame::Data { seq, payload }),
    }
}

/// Encodes a server frame as the WebSocket message to send.
pub fn encode_server(f: &ServerFrame) -> Msg {
    match f {
        ServerFrame::Welcome { out, resumed } => to_json(&Json::Welcome {
            out: *out,
            resumed: *resumed,
        }),
        ServerFrame::Ack { upto } => to_json(&Json::Ack { s: *upto }),
        ServerFrame::Nack { seq, error } => to_json(&Json::Nack {
            s: *seq,
            e: Cow::Borrowed(error),
        }),
        ServerFrame::Data { seq, payload } => encode_data(*seq, payload),
    }
}

/// Decodes a message received by the client; `None` if it is not a valid server frame.
pub fn decode_server(m: &Msg) -> Option<ServerFrame> {
    match decode(m)? {
        Decoded::Json(Json::Welcome { out, resumed }) => {
            Some(ServerFrame::Welcome { out, resumed })
        }
        Decoded::Json(Json::Ack { s }) => Some(ServerFrame::Ack { upto: s }),
        Decoded::Json(Json::Nack { s, e }) => Some(ServerFrame::Nack {
            seq: s,
            error: e.into_owned(),
        }),
        Decoded::Json(Json::Hello { .. }) => None,
        data => data_payload(data).map(|(seq, payload)| ServerFrame::Data { seq, payload }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Msg {
        Msg::Text(s.to_owned())
    }

    fn binary(seq: u64, bytes: &[u8]) -> Msg {
        let mut out = vec![0x64];
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(bytes);
        Msg::Binary(out)
    }

    /// Encodes `frame`, checks the exact wire form, and decodes it back.
    fn client_both_ways(frame: ClientFrame, wire: Msg) {
        assert_eq!(encode_client(&frame), wire, "{frame:?}");
        assert_eq!(decode_client(&wire), Some(frame), "{wire:?}");
    }

    fn server_both_ways(frame: ServerFrame, wire: Msg) {
        assert_eq!(encode_server(&frame), wire, "{frame:?}");
        assert_eq!(decode_server(&wire), Some(frame), "{wire:?}");
    }

    #[test]
    fn client_frames_both_ways() {
        client_both_ways(
            ClientFrame::Hello {
                sid: "s-1".into(),
                inbound: 0,
            },
            text(r#"{"t":"hello","sid":"s-1","in":0}"#),
        );
        client_both_ways(
            ClientFrame::Hello {
                sid: "é\"\\\n".into(),
                inbound: MAX_SEQ,
            },
            text(r#"{"t":"hello","sid":"é\"\\\n","in":9007199254740991}"#),
        );
        client_both_ways(
            ClientFrame::Data {
                seq: 1,
                payload: text("hi \"you\""),
            },
            text(r#"{"t":"d","s":1,"p":"hi \"you\""}"#),
        );
        client_both_ways(
            ClientFrame::Data {
                seq: 7,
                payload: text(""),
            },
            text(r#"{"t":"d","s":7,"p":""}"#),
        );
        client_both_ways(
            ClientFrame::Data {
                seq: 0x0102_0304_0506,
                payload: Msg::Binary(vec![0, 0xff, 0x64]),
            },
            Msg::Binary(vec![0x64, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0xff, 0x64]),
        );
        client_both_ways(
            ClientFrame::Data {
                seq: MAX_SEQ,
                payload: Msg::Binary(vec![]),
            },
            binary(MAX_SEQ, &[]),
        );
        client_both_ways(ClientFrame::Ack { upto: 0 }, text(r#"{"t":"a","s":0}"#));
        client_both_ways(ClientFrame::Ack { upto: 42 }, text(r#"{"t":"a","s":42}"#));
    }

    #[test]
    fn server_frames_both_ways() {
        server_both_ways(
            ServerFrame::Welcome {
                out: 0,
                resumed: false,
            },
            text(r#"{"t":"welcome","out":0,"resumed":false}"#),
        );
        server_both_ways(
            ServerFrame::Welcome {
                out: 12,
                resumed: true,
            },
            text(r#"{"t":"welcome","out":12,"resumed":true}"#),
        );
        server_both_ways(ServerFrame::Ack { upto: 3 }, text(r#"{"t":"a","s":3}"#));
        server_both_ways(
            ServerFrame::Nack {
                seq: 4,
                error: "refused by test server".into(),
            },
            text(r#"{"t":"n","s":4,"e":"refused by test server"}"#),
        );
        server_both_ways(
            ServerFrame::Data {
                seq: 5,
                payload: text("{\"t\":\"d\"}"),
            },
            text(r#"{"t":"d","s":5,"p":"{\"t\":\"d\"}"}"#),
        );
        server_both_ways(
            ServerFrame::Data {
                seq: 6,
                payload: Msg::Binary(b"bytes".to_vec()),
            },
            binary(6, b"bytes"),
        );
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter_when_decoding_and_unknown_keys_are_ignored() {
        assert_eq!(
            decode_client(&text(
                r#" { "in" : 3 , "sid" : "x" , "t" : "hello" , "v" : 2 } "#
            )),
            Some(ClientFrame::Hello {
                sid: "x".into(),
                inbound: 3
            })
        );
        assert_eq!(
            decode_server(&text(r#"{"s":2,"p":"\u0041","t":"d"}"#)),
            Some(ServerFrame::Data {
                seq: 2,
                payload: text("A")
            })
        );
    }

    #[test]
    fn decoding_rejects_what_is_not_a_frame_of_that_direction() {
        let rejected_by_both = [
            text("ping"),
            text("pong"),
            text(""),
            text("null"),
            text("[]"),
            text("{}"),
            text(r#"{"t":"x","s":1}"#),
            text(r#"{"t":5}"#),
            text(r#"{"s":1}"#),
            text(r#"{"t":"d","s":1}"#),
            text(r#"{"t":"d","p":"x"}"#),
            text(r#"{"t":"d","s":"1","p":"x"}"#),
            text(r#"{"t":"d","s":1.5,"p":"x"}"#),
            text(r#"{"t":"d","s":-1,"p":"x"}"#),
            text(r#"{"t":"d","s":0,"p":"x"}"#),
            text(r#"{"t":"d","s":9007199254740992,"p":"x"}"#),
            text(r#"{"t":"d","s":18446744073709551616,"p":"x"}"#),
            text(r#"{"t":"d","s":1,"p":5}"#),
            text(r#"{"t":"d","s":1,"p":null}"#),
            text(r#"{"t":"a","s":9007199254740992}"#),
            text(r#"{"t":"a","s":true}"#),
            text(r#"{"t":"a","s":1,"s":2}"#),
            text(r#"{"t":"a","s":1"#),
            Msg::Binary(vec![]),
            Msg::Binary(vec![0x64]),
            Msg::Binary(vec![0x64, 0, 0, 0, 0, 0, 0, 1]),
            Msg::Binary(vec![0x65, 0, 0, 0, 0, 0, 0, 0, 1, 9]),
            Msg::Binary(br#"{"t":"a","s":1}"#.to_vec()),
            binary(0, b"x"),
            binary(MAX_SEQ + 1, b"x"),
            binary(u64::MAX, b""),
        ];
        for m in &rejected_by_both {
            assert_eq!(decode_client(m), None, "client {m:?}");
            assert_eq!(decode_server(m), None, "server {m:?}");
        }
        // Frames of the other direction.
        let server_only = [
            text(r#"{"t":"welcome","out":0,"resumed":false}"#),
            text(r#"{"t":"n","s":1,"e":"no"}"#),
        ];
        for m in &server_only {
            assert_eq!(decode_client(m), None, "{m:?}");
            assert!(decode_server(m).is_some(), "{m:?}");
        }
        let hello = text(r#"{"t":"hello","sid":"x","in":0}"#);
        assert_eq!(decode_server(&hello), None);
        assert!(decode_client(&hello).is_some());
        // Wrong types and limits in the frames of one direction.
        for m in [
            text(r#"{"t":"hello","sid":1,"in":0}"#),
            text(r#"{"t":"hello","sid":"x"}"#),
            text(r#"{"t":"hello","sid":"x","in":9007199254740992}"#),
        ] {
            assert_eq!(decode_client(&m), None, "{m:?}");
        }
        for m in [
            text(r#"{"t":"welcome","out":0,"resumed":"no"}"#),
            text(r#"{"t":"welcome","out":9007199254740992,"resumed":true}"#),
            text(r#"{"t":"welcome","resumed":true}"#),
            text(r#"{"t":"n","s":0,"e":"no"}"#),
            text(r#"{"t":"n","s":1}"#),
        ] {
            assert_eq!(decode_server(&m), None, "{m:?}");
        }
    }
}
