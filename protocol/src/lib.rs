//! resilient-ws's delivery protocol: acknowledgements, resend, de-duplication and stream
//! resume over a plain WebSocket. [`wire`] holds the frames and their encoding.

pub mod wire;
