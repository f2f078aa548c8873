//! Limits on one app's size, checked after Render and before Plan, so an app
//! over them applies and prunes nothing (the object count is the renderer's,
//! `RendererConfig::max_objects`, checked in the render worker); and the switch that moves large
//! apps' CPU work (plan, diff, building the status) off the async runtime's
//! worker threads.

use tether_model::{Inventory, ObjectRef};

use crate::record::Failure;

/// `tether agent --max-objects-per-app` by default.
pub const DEFAULT_MAX_OBJECTS: usize = 20_000;

/// The compact inventory may take at most this much of the Application
/// status (whose whole JSON is kept under 960 KiB): about 58,000 objects with
/// names of 8 characters, 19,000 with names of 30.
pub const INVENTORY_BUDGET: usize = 640 * 1024;

/// From this many objects on, plan and record run where blocking is allowed
/// (`block_in_place`), so a 50,000-object app does not hold a runtime worker
/// that watches, timers and other apps' I/O need.
pub const LARGE_APP: usize = 2_000;

/// An app whose inventory would not fit the status budget fails with
/// `TooManyObjects` too: its names are too long for its number.
pub fn check_inventory_size<'a>(
    objects: impl IntoIterator<Item = (&'a ObjectRef, &'a str)>,
) -> Result<(), Failure> {
    let inventory = Inventory::from_objects(objects);
    let size = inventory.encoded_len();
    if size <= INVENTORY_BUDGET {
        return Ok(());
    }
    Err(Failure::new(
        "TooManyObjects",
        format!(
            "the inventory of {} objects would take {} KiB of the Application status, \
             over its budget of {} KiB (etcd refuses large objects); split the app",
            inventory.count,
            size / 1024,
            INVENTORY_BUDGET / 1024
        ),
    ))
}

/// Run `f` (CPU work over `n` objects) off the async workers when the app is
/// large and the runtime can spare the thread; inline otherwise (small apps,
/// and the CLI's single-threaded runtime, where `block_in_place` would panic).
pub fn cpu_heavy<T>(n: usize, f: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if n >= LARGE_APP && multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_hit_the_inventory_budget() {
        let short: Vec<ObjectRef> = (0..20_000)
            .map(|i| ObjectRef::new("", "ConfigMap", "web", &format!("settings-{i:05}")))
            .collect();
        assert!(check_inventory_size(short.iter().map(|r| (r, "v1"))).is_ok());
        let long: Vec<ObjectRef> = (0..20_000)
            .map(|i| {
                ObjectRef::new(
                    "",
                    "ConfigMap",
                    "web",
                    &format!("{}-{i:05}", "x".repeat(60)),
                )
            })
            .collect();
        let e = check_inventory_size(long.iter().map(|r| (r, "v1"))).unwrap_err();
        assert_eq!(e.reason, "TooManyObjects");
        assert!(e.message.contains("20000 objects"), "{}", e.message);
    }

    #[test]
    fn cpu_heavy_runs_inline_without_a_multi_thread_runtime() {
        assert_eq!(cpu_heavy(LARGE_APP * 2, || 7), 7);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(async { cpu_heavy(LARGE_APP * 2, || 8) }), 8);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(async {
                tokio::spawn(async { cpu_heavy(LARGE_APP * 2, || 9) })
                    .await
                    .unwrap()
            }),
            9
        );
    }
}
