use super::*;

#[test]
fn library_names_are_safe_path_segments() {
    assert_eq!(name_of(Some("Home Win!.JPG")), "home-win");
    assert_eq!(
        name_of(Some("C:\\photos\\Derby Day 2026.jpeg")),
        "derby-day-2026"
    );
    assert_eq!(name_of(Some("../../etc/passwd")), "passwd");
    assert_eq!(name_of(Some("Ünïcödé—crest.png")), "n-c-d-crest");
    assert_eq!(name_of(Some("...")), "image");
    assert_eq!(name_of(Some("")), "image");
    assert_eq!(name_of(None), "image");
    let long = name_of(Some(&format!("{}.jpg", "a".repeat(200))));
    assert_eq!(long.len(), MAX_NAME);
}

#[test]
fn library_a_crop_is_an_image_of_its_own() {
    let square = crop_of((1, 1), Some((0.25, 0.5))).unwrap();
    let wide = crop_of((16, 9), Some((0.25, 0.5))).unwrap();
    let elsewhere = crop_of((1, 1), Some((0.75, 0.5))).unwrap();
    let hashes = [
        cropped_hash("00112233445566778899", &square),
        cropped_hash("00112233445566778899", &wide),
        cropped_hash("00112233445566778899", &elsewhere),
    ];
    assert!(hashes.iter().all(|h| h.len() == 20));
    assert_ne!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);
    assert_eq!(hashes[0], cropped_hash("00112233445566778899", &square));
    assert!(matches!(
        crop_of((0, 9), None),
        Err(AppError::Validation(_))
    ));
    assert!(matches!(
        crop_of((1000, 1), None),
        Err(AppError::Validation(_))
    ));
}

#[test]
fn library_variant_pages_are_immutable_and_keyed_to_their_image() {
    let id = MediaId::now_v7();
    let variants = vec![Variant {
        width: 320,
        height: 180,
        format: Format::Webp,
        bytes: vec![1, 2, 3],
    }];
    let (rows, pages) = variant_pages(id, "abc", "hero", variants, Utc::now());
    assert_eq!(rows[0].path, "/media/abc/hero-320.webp");
    assert_eq!(rows[0].bytes, 3);
    let page = &pages[0];
    assert_eq!(page.path, rows[0].path);
    assert_eq!(page.content_type, "image/webp");
    assert!(page.cache_policy.immutable);
    assert_eq!(page.cache_policy.browser_max_age, MEDIA_MAX_AGE);
    assert!(page.br.is_empty() && page.gzip.is_empty());
    assert_eq!(page.surrogate_keys[0], format!("media:{id}"));
}
