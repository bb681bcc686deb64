//! `persist: { name, maxAgeMs }`: the delivery session kept in IndexedDB (js/src/persist.js,
//! loaded on first use by js/src/driver.js's LazyPersister).
//!
//! At start the store is read; the first attempt's socket waits for that read (its `Open` is
//! deferred), so that the hello names the stored session. Then the machine is restored from
//! it ([`Machine::restore`]): entries older than `maxAgeMs` are reported
//! `onDrop(data, "expired")` and, since dropping them would leave a gap in the numbers, the
//! session starts afresh with the rest. After every pump the machine's
//! [`PersistChange`]s are written, in order, as one transaction. Where IndexedDB is missing or
//! refuses, persist.js warns once and the connection runs on without it.
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Float64Array, Promise};
use wasm_bindgen::prelude::*;

use super::{byte_length, JsMessage, Shared};
use crate::core::{ConnId, PersistChange, Restored};

#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    /// Calls `done(true, value)` or `done(false, error)` once the thenable settles.
    fn settle(value: &JsValue, done: JsValue);

    /// The store (js/src/persist.js's Persister, behind driver.js's LazyPersister, which loads
    /// it on first use).
    #[wasm_bindgen(js_name = LazyPersister)]
    pub(super) type Persister;
    #[wasm_bindgen(constructor, js_class = "LazyPersister")]
    fn new(name: &str) -> Persister;
    #[wasm_bindgen(method, getter)]
    fn ready(this: &Persister) -> Promise;
    #[wasm_bindgen(method, js_name = restoreDone)]
    fn restore_done(this: &Persister);
    #[wasm_bindgen(method)]
    fn put(this: &Persister, seq: f64, data: &JsValue, at: f64);
    #[wasm_bindgen(method, js_name = deleteUpTo)]
    fn delete_up_to(this: &Persister, upto: f64);
    #[wasm_bindgen(method)]
    fn remove(this: &Persister, seq: f64);
    #[wasm_bindgen(method)]
    fn clear(this: &Persister);
    #[wasm_bindgen(method)]
    fn meta(this: &Persister, sid: &str, inbound: f64, next_seq: f64, welcomed: bool);
    #[wasm_bindgen(method)]
    fn commit(this: &Persister);
    #[wasm_bindgen(method)]
    pub(super) fn persisted(this: &Persister) -> Promise;
    #[wasm_bindgen(method)]
    fn close(this: &Persister);
}

/// The `persist` option, as read.
pub(crate) struct PersistConfig {
    pub(crate) name: String,
    pub(crate) max_age_ms: f64,
}

/// The store of one connection, and the restore in progress.
pub(super) struct Persist {
    store: Persister,
    max_age_ms: f64,
    /// Until the stored session is restored, nothing is written.
    restoring: Cell<bool>,
    /// The first attempt, waiting for the restore.
    deferred: Cell<Option<ConnId>>,
    /// The session fields last written: (sid, inbound, next seq, welcomed).
    written: RefCell<Option<(String, u64, u64, bool)>>,
}

/// Epoch milliseconds.
fn wall_clock() -> f64 {
    js_sys::Date::now()
}

impl Persist {
    pub(super) fn new(config: PersistConfig) -> Persist {
        Persist {
            store: Persister::new(&config.name),
            max_age_ms: config.max_age_ms,
            restoring: Cell::new(true),
            deferred: Cell::new(None),
            written: RefCell::new(None),
        }
    }

    pub(super) fn store(&self) -> &Persister {
        &self.store
    }

    pub(super) fn close(&self) {
        self.store.close();
    }
}

impl Shared {
    /// Starts reading the store; the restore follows when it is read.
    pub(super) fn start_restore(self: &Rc<Self>) {
        let Some(p) = &self.persist else { return };
        let weak = Rc::downgrade(self);
        // Called once, when the read settles (it never rejects: null means persist is off).
        let done = Closure::once_into_js(move |ok: bool, stored: JsValue| {
            if let Some(s) = weak.upgrade() {
                s.restore(if ok { stored } else { JsValue::NULL });
            }
        });
        settle(&p.store.ready(), done);
    }

    /// Command::Open: true when the attempt must wait for the restore (it is opened then).
    pub(super) fn defer_open(&self, conn: ConnId) -> bool {
        match &self.persist {
            Some(p) if p.restoring.get() => {
                p.deferred.set(Some(conn));
                true
            }
            _ => false,
        }
    }

    /// The store was read (null: persist is off): restore the machine, write what that
    /// changed, report expired entries, and open the deferred attempt.
    fn restore(self: &Rc<Self>, stored: JsValue) {
        let Some(p) = &self.persist else { return };
        if self.released.get() {
            return;
        }
        let mut expired = Vec::new();
        if !stored.is_null() {
            let a: Array = stored.unchecked_into();
            let seqs = a.get(4).unchecked_into::<Float64Array>().to_vec();
            let datas: Array = a.get(5).unchecked_into();
            let times = a.get(6).unchecked_into::<Float64Array>().to_vec();
            let oldest = wall_clock() - p.max_age_ms;
            let mut unacked = Vec::new();
            for (i, (&seq, &at)) in seqs.iter().zip(&times).enumerate() {
                let data = datas.get(i as u32);
                let bytes = byte_length(&data);
                if at < oldest || bytes < 0.0 {
                    expired.push(data);
                    continue;
                }
                let mut message = JsMessage::outgoing(data, bytes as usize);
                message.at = at;
                unacked.push((seq as u64, message));
            }
            let restored = Restored {
                // Dropping expired entries leaves a gap in the numbers: start afresh.
                sid: a.get(0).as_string().filter(|_| expired.is_empty()),
                inbound: a.get(1).as_f64().unwrap_or(0.0) as u64,
                next_seq: a.get(2).as_f64().unwrap_or(1.0) as u64,
                welcomed: a.get(3).is_truthy(),
                unacked,
            };
            let now = self.now();
            self.machine.borrow_mut().restore(now, restored);
        }
        p.restoring.set(false);
        self.write_changes();
        p.store.restore_done();
        if let Some(f) = self.hooks.on_drop.as_ref().filter(|_| !expired.is_empty()) {
            let reason = JsValue::from_str("expired");
            for data in &expired {
                if let Err(e) = f.call2(&JsValue::NULL, data, &reason) {
                    self.report_callback_error(e);
                }
            }
        }
        if let Some(conn) = p.deferred.take() {
            if self.machine.borrow().current_conn() == Some(conn) {
                self.open(conn);
            }
        }
        self.pump();
    }

    /// Writes the machine's changes since the last call as one transaction.
    pub(super) fn write_changes(&self) {
        let Some(p) = &self.persist else { return };
        if p.restoring.get() {
            return;
        }
        let m = &mut *self.machine.borrow_mut();
        let store = &p.store;
        let mut any = false;
        while let Some(change) = m.poll_persist() {
            any = true;
            match change {
                PersistChange::Numbered(seq) => {
                    if let Some(msg) = m.unacked_message(seq) {
                        store.put(seq as f64, &msg.value, stamp(msg));
                    }
                }
                PersistChange::Acked(upto) => store.delete_up_to(upto as f64),
                PersistChange::Removed(seq) => store.remove(seq as f64),
                PersistChange::Reset => {
                    store.clear();
                    for (seq, msg) in m.unacked_seqs() {
                        store.put(seq as f64, &msg.value, stamp(msg));
                    }
                }
            }
        }
        let session = (
            m.session_id().unwrap_or_default().to_owned(),
            m.inbound_seq(),
            m.next_seq(),
            m.welcomed(),
        );
        let mut written = p.written.borrow_mut();
        if written.as_ref() != Some(&session) {
            let (sid, inbound, next, welcomed) = &session;
            store.meta(sid, *inbound as f64, *next as f64, *welcomed);
            *written = Some(session);
            any = true;
        }
        if any {
            store.commit();
        }
    }
}

/// When a message was sent (epoch ms), for `maxAgeMs`.
fn stamp(msg: &JsMessage) -> f64 {
    if msg.at > 0.0 {
        msg.at
    } else {
        wall_clock()
    }
}
