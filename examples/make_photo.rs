//! Writes the photo-like JPEG that `benches/cache_hit.rs` and
//! `loadtest/compare-nginx.sh` serve variants of. Made from a formula, so
//! every machine gets the same bytes, hence the same content-hashed URLs.
//!
//! cargo run --release --example make_photo -- OUT.jpg [WIDTH HEIGHT]
//!
//! 4000x3000 (12 megapixels, a phone camera's photo) unless told otherwise.

use std::process::ExitCode;

use keel::media::samples;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, width, height) = match args.as_slice() {
        [out] => (out, 4000, 3000),
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
    eprintln!("usage: make_photo OUT.jpg [WIDTH HEIGHT]");
    ExitCode::from(2)
}
