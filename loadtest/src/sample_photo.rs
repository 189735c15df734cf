//! Writes the photo-like JPEG that `benches/cache_hit.rs` and
//! `loadtest/compare-nginx.sh` serve variants of. Made from a formula, so
//! every machine gets the same bytes, hence the same content-hashed URLs.
//!
//! cargo run --release -p keel-loadtest --bin keel-sample-photo -- OUT.jpg [WIDTH HEIGHT]
//!
//! 2560x1920 unless told otherwise: the size whose 1024-pixel WebP has a
//! real photo's 50-60 KB (from a larger one, the sample's per-pixel noise
//! averages out and the WebP shrinks to a fraction of that).

use std::process::ExitCode;

use keel::media::samples;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, width, height) = match args.as_slice() {
        [out] => (out, 2560, 1920),
        [out, w, h] => match (w.parse(), h.parse()) {
            (Ok(w), Ok(h)) if w > 0 && h > 0 => (out, w, h),
            _ => return usage(),
        },
        _ => return usage(),
    };
    let jpeg = samples::jpeg(&samples::photo(width, height), None);
    if let Err(e) = std::fs::write(out, &jpeg) {
        eprintln!("error: writing {out}: {e}");
        return ExitCode::FAILURE;
    }
    println!("{out}: {width}x{height} JPEG, {} bytes", jpeg.len());
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: keel-sample-photo OUT.jpg [WIDTH HEIGHT]");
    ExitCode::from(2)
}
