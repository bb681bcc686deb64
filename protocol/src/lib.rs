//! resilient-ws's delivery protocol: acknowledgements, resend, de-duplication and stream
//! resume over a plain WebSocket (the rules are in `protocol/PROTOCOL.md`).
//!
//! - [`wire`]: the frames and their encoding, both directions ([`wire::decode_client`],
//!   [`wire::encode_server`], ...). Used by servers, and by the client's host tests.
//! - [`server`]: the server side as a sans-IO state machine. No sockets, no runtime: the
//!   server decodes what a connection reads, asks the state machine what to do, and writes
//!   the frames it returns.
//!
//! # How a server uses it
//!
//! Per connection:
//! 1. The first message is the client's hello: [`server::Server::hello`] answers with the
//!    welcome and the server messages to replay; send them all, in order. The connection now
//!    belongs to that session id.
//! 2. For each client data frame, [`server::Server::receive`] says whether it is a duplicate
//!    (send the acknowledgement it returns, do not apply), a gap (ignore it) or new: the
//!    application applies it and calls [`server::Server::accept`] (send the ack), or refuses
//!    it and calls [`server::Server::reject`] (send the nack).
//! 3. A client ack goes to [`server::Server::ack`] (it trims the replay buffer).
//! 4. To push a message, [`server::Server::send`] numbers and buffers it; send the frame it
//!    returns if the session has an open connection (if not, the next hello replays it).
//! 5. Anything else (the heartbeat `"ping"`, ...) is not a protocol frame:
//!    [`wire::decode_client`] returns `None` and the server handles it as before.
//!
//! [`server::Server`] keeps the session states in a [`server::SessionStore`]
//! ([`server::MemoryStore`] in memory). A server whose store is asynchronous (Redis) uses
//! [`server::SessionState`]'s operations directly: load the state, call the operation,
//! store the state. One session is driven by one operation at a time (hold a lock per
//! session id, or the store's transaction).
//!
//! ```
//! use resilient_ws_protocol::server::{Incoming, MemoryStore, Server};
//! use resilient_ws_protocol::wire::{decode_client, encode_server, ClientFrame, Msg};
//!
//! let mut server = Server::new(MemoryStore::new());
//! let mut sid = None; // the session of this connection, once it said hello
//! let mut out: Vec<Msg> = Vec::new(); // what the connection writes
//!
//! let read = [
//!     Msg::Text(r#"{"t":"hello","sid":"abc","in":0}"#.into()),
//!     Msg::Text(r#"{"t":"d","s":1,"p":"hi"}"#.into()),
//!     Msg::Text(r#"{"t":"d","s":1,"p":"hi"}"#.into()), // resent: a duplicate
//!     Msg::Text("ping".into()),
//! ];
//! for msg in &read {
//!     match (decode_client(msg), sid.as_deref()) {
//!         (Some(ClientFrame::Hello { sid: id, inbound }), _) => {
//!             out.extend(server.hello(&id, inbound).frames.iter().map(encode_server));
//!             sid = Some(id);
//!         }
//!         (Some(ClientFrame::Data { seq, payload }), Some(id)) => {
//!             match server.receive(id, seq).expect("said hello") {
//!                 Incoming::Duplicate(ack) => out.push(encode_server(&ack)),
//!                 Incoming::Gap => {}
//!                 Incoming::New(pending) => {
//!                     // The application applies `payload` here, or refuses it:
//!                     // server.reject(id, pending, "reason").
//!                     let ack = server.accept(id, pending).expect("said hello");
//!                     out.push(encode_server(&ack));
//!                 }
//!             }
//!         }
//!         (Some(ClientFrame::Ack { upto }), Some(id)) => {
//!             server.ack(id, upto);
//!         }
//!         (None, _) if *msg == Msg::Text("ping".into()) => out.push(Msg::Text("pong".into())),
//!         _ => {} // not a protocol frame, or data before the hello
//!     }
//! }
//! // Server messages are numbered and kept until the client acknowledges them.
//! let frame = server.send("abc", Msg::Text("news".into())).expect("known session");
//! out.push(encode_server(&frame));
//!
//! let text = |m: &Msg| match m {
//!     Msg::Text(t) => t.clone(),
//!     Msg::Binary(_) => unreachable!(),
//! };
//! assert_eq!(
//!     out.iter().map(text).collect::<Vec<_>>(),
//!     [
//!         r#"{"t":"welcome","out":0,"resumed":false}"#,
//!         r#"{"t":"a","s":1}"#,
//!         r#"{"t":"a","s":1}"#,
//!         "pong",
//!         r#"{"t":"d","s":1,"p":"news"}"#,
//!     ]
//! );
//! ```

pub mod server;
pub mod wire;
