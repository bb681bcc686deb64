//! The core's commands carried out on the sockets: open, send, read bufferedAmount, close,
//! abandon.
use std::rc::Rc;

use super::{JsMessage, Shared};
use crate::core::{CloseInfo, Command, ConnId, Input};

impl Shared {
    pub(super) fn execute(self: &Rc<Self>, command: Command<JsMessage>) {
        match command {
            Command::Open { conn } => {
                if !self.defer_open(conn) {
                    self.open(conn);
                }
            }
            Command::Send { conn, payload } => {
                if !self.sockets.send(conn, &payload.value) {
                    let now = self.now();
                    self.machine.borrow_mut().handle(now, Input::Error { conn });
                }
            }
            Command::ReadBufferedAmount { conn } => {
                let input = if self.sockets.is_closing(conn) {
                    Some(Input::Closing { conn })
                } else {
                    self.sockets
                        .buffered_amount(conn)
                        .map(|bytes| Input::BufferedAmount { conn, bytes })
                };
                if let Some(input) = input {
                    let now = self.now();
                    self.machine.borrow_mut().handle(now, input);
                }
            }
            Command::Close { conn, code, reason } => {
                // Handlers stay until the close event arrives.
                if !self.sockets.close(conn, code, &reason) {
                    // No socket yet (the URL is still being resolved): closed at once.
                    self.url.cancel(conn);
                    let now = self.now();
                    let info = CloseInfo {
                        code,
                        reason,
                        was_clean: true,
                    };
                    self.machine.borrow_mut().handle(
                        now,
                        Input::Closed {
                            conn,
                            info,
                            reconnect: false,
                        },
                    );
                }
            }
            Command::Abandon { conn } => {
                self.url.cancel(conn);
                self.sockets.remove(conn);
            }
        }
    }

    /// An attempt that got no socket (bad URL, a URL function that failed, a WebSocket
    /// constructor that threw).
    pub(super) fn open_failed(self: &Rc<Self>, conn: ConnId, error: String) {
        let now = self.now();
        self.machine
            .borrow_mut()
            .handle(now, Input::OpenFailed { conn, error });
    }
}
