//! Registers or downloads one large artifact with the file backend (fsync on), for the
//! throughput/RSS comparison with `cp` in `mlops-registry/bench_large_artifact.sh`.
//!
//! ```text
//! large_artifact register FILE STORE     # prints seconds and MB/s
//! large_artifact download STORE OUT_DIR
//! LARGE_NO_FSYNC=1 large_artifact ...   # without fsync
//! ```

use std::time::Instant;

use mlops_registry::{FileRegistry, FileRegistryBuilder, NewVersion, Registry};

/// `LARGE_NO_FSYNC=1` turns fsync off (to compare with a plain, non-durable `cp`).
fn open(store: &str) -> mlops_registry::Result<FileRegistry> {
    let fsync = std::env::var("LARGE_NO_FSYNC").is_err();
    FileRegistryBuilder::new(store).with_fsync(fsync).build()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name: mlops_core::ModelName = "large".parse()?;
    let start = Instant::now();
    let bytes = match args.as_slice() {
        [cmd, file, store] if cmd == "register" => {
            let reg = open(store)?;
            let e = reg.register(NewVersion::new(name).with_artifact_file(file)?)?;
            e.version.artifacts[0].size
        }
        [cmd, store, out] if cmd == "download" => {
            let reg = open(store)?;
            let files = reg.download(
                &mlops_core::ModelRef::latest(name),
                std::path::Path::new(out),
            )?;
            std::fs::metadata(&files[0])?.len()
        }
        [cmd, file] if cmd == "hash" => {
            // The hashing ceiling alone, for comparison.
            let (_, n) = mlops_core::Sha256Digest::of_reader(std::fs::File::open(file)?)?;
            n
        }
        _ => anyhow::bail!("usage: large_artifact register FILE STORE | download STORE OUT_DIR"),
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} {bytes} bytes in {secs:.3} s = {:.0} MB/s",
        args[0],
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
