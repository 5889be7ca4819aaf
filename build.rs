//! Builds faultline's init (`src/stack/init.c`), the first process of every service's
//! container, as one static executable the library embeds (`stack::init`). It needs the C
//! compiler the crates faultline links already need, and a static C library (Debian's
//! `libc6-dev`). Without them faultline still builds: the init is then empty, and a reset
//! starts each service's container again instead (the way it works without the init).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/stack/init.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("faultline-init");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    // The init runs in containers of the host's engine: built for Linux on the host's
    // architecture only (cross builds embed none).
    let built = target == host
        && target.contains("-linux-")
        && Command::new(&cc)
            .args(["-static", "-Os", "-s", "-Wall", "-o"])
            .arg(&out)
            .arg(src)
            .status()
            .is_ok_and(|s| s.success());
    if !built {
        println!("cargo:warning=faultline's init was not built ({cc} -static {src}): resets start containers again");
        std::fs::write(&out, b"").expect("write OUT_DIR/faultline-init");
    }
}
