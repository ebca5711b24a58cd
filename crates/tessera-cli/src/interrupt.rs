//! Ctrl-C for the commands that stop cleanly with what they have done (`count`, `slice`, `lc`):
//! the first Ctrl-C sets a flag the work polls; a second one ends the process at once.
//! (`train` installs its own handler, which asks the run to checkpoint.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Install the handler (once per process) and clear an earlier request.
pub fn listen() {
    static HANDLER: Once = Once::new();
    // Without a handler (another one installed already) Ctrl-C simply ends the process.
    HANDLER.call_once(|| {
        drop(ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        }))
    });
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Whether Ctrl-C was pressed since [`listen`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
