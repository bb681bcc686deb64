//! The core's commands carried out on the sockets: open, send, read bufferedAmount, close,
//! abandon.
use std::rc::Rc;

use super::Shared;
use crate::core::{CloseInfo, Command, ConnId, Input};

impl Shared {
    pub(super) fn execute(self: &Rc<Self>, command: Command) {
        match command {
            Command::Open { conn } => self.open(conn),
            Command::Send { conn, payload } => {
                let failed = {
                    let st = self.state.borrow();
                    match st.socket(conn) {
                        Some(h) => h.send(&payload).is_err(),
                        None => false,
                    }
                };
                if failed {
                    let now = self.now();
                    self.state
                        .borrow_mut()
                        .machine
                        .handle(now, Input::Error { conn });
                }
            }
            Command::ReadBufferedAmount { conn } => {
                let now = self.now();
                let mut st = self.state.borrow_mut();
                if let Some(bytes) = st.socket(conn).map(|h| h.buffered_amount()) {
                    st.machine
                        .handle(now, Input::BufferedAmount { conn, bytes });
                }
            }
            Command::Close { conn, code, reason } => {
                let now = self.now();
                let mut st = self.state.borrow_mut();
                if let Some(h) = st.socket(conn) {
                    // Handlers stay until the close event arrives.
                    h.close(code, &reason);
                } else {
                    // No socket yet (the URL is still being resolved): closed at once.
                    st.cancel_pending_url(conn);
                    let info = CloseInfo {
                        code,
                        reason,
                        was_clean: true,
                    };
                    st.machine.handle(
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
                let handle = {
                    let mut st = self.state.borrow_mut();
                    st.cancel_pending_url(conn);
                    st.take_socket(conn)
                };
                drop(handle);
            }
        }
    }

    /// An attempt that got no socket (bad URL, a URL function that failed, a WebSocket
    /// constructor that threw).
    pub(super) fn open_failed(self: &Rc<Self>, conn: ConnId, error: String) {
        let now = self.now();
        self.state
            .borrow_mut()
            .machine
            .handle(now, Input::OpenFailed { conn, error });
    }
}
