//! CSV / Parquet column reading.
use mlops_drift::io::*;
use mlops_drift::Error;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn csv_kinds_missing_and_selection() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "d.csv", "\u{feff}a,b,c\n1,x,2.5\n,y,NaN\n3e2,,inf\n");
    let t = read_csv(&p, &ReadOptions::default()).unwrap();
    assert_eq!(t.names(), vec!["a", "b", "c"]);
    let Some(Column::Numeric(a)) = t.column("a") else {
        panic!("a numeric")
    };
    assert_eq!(a[0], 1.0);
    assert!(a[1].is_nan());
    assert_eq!(a[2], 300.0);
    assert_eq!(
        t.column("b"),
        Some(&Column::Categorical(vec![
            Some("x".into()),
            Some("y".into()),
            None
        ]))
    );
    let Some(Column::Numeric(c)) = t.column("c") else {
        panic!("c numeric")
    };
    assert!(c[1].is_nan() && c[2].is_infinite());
    let t = read_table(
        &p,
        &ReadOptions::default()
            .with_columns(["c", "a"])
            .with_kind("a", ColumnKind::Categorical),
    )
    .unwrap();
    assert_eq!(t.names(), vec!["c", "a"]);
    assert_eq!(t.columns[1].1.kind_name(), "categorical");
}

#[test]
fn csv_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "d.csv", "a,b\n1,2\n3\n");
    assert!(matches!(
        read_csv(&p, &ReadOptions::default()),
        Err(Error::Table { .. })
    ));
    let p = write(&dir, "e.csv", "a,b\n1,2\n");
    assert!(matches!(
        read_csv(&p, &ReadOptions::default().with_columns(["zz"])),
        Err(Error::ColumnNotFound { .. })
    ));
    let p = write(&dir, "f.csv", "a,a\n1,2\n");
    assert!(matches!(
        read_csv(&p, &ReadOptions::default()),
        Err(Error::Table { .. })
    ));
    let p = write(&dir, "g.csv", "a\n1\nhello\n");
    assert!(matches!(
        read_csv(
            &p,
            &ReadOptions::default().with_kind("a", ColumnKind::Numeric)
        ),
        Err(Error::Table { .. })
    ));
    assert!(matches!(
        read_csv(&dir.path().join("missing.csv"), &ReadOptions::default()),
        Err(Error::Io { .. })
    ));
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, b"a\n\xff\xfe\n").unwrap();
    // Invalid UTF-8 is an error, not a panic.
    assert!(read_csv(&bad, &ReadOptions::default()).is_err());
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_round_trip_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    let table = Table {
        columns: vec![
            ("x".into(), Column::Numeric(vec![1.0, f64::NAN, 2.5, -3.0])),
            (
                "c".into(),
                Column::Categorical(vec![
                    Some("ä".into()),
                    None,
                    Some("b".into()),
                    Some("b".into()),
                ]),
            ),
        ],
    };
    write_parquet(&p, &table).unwrap();
    let back = read_table(&p, &ReadOptions::default()).unwrap();
    assert_eq!(back.names(), vec!["x", "c"]);
    let Some(Column::Numeric(x)) = back.column("x") else {
        panic!("x numeric")
    };
    assert_eq!((x[0], x[2], x[3]), (1.0, 2.5, -3.0));
    assert!(x[1].is_nan());
    assert_eq!(back.column("c"), table.column("c"));
    let sel = read_parquet(&p, &ReadOptions::default().with_columns(["c"])).unwrap();
    assert_eq!(sel.names(), vec!["c"]);
    assert!(matches!(
        read_parquet(&p, &ReadOptions::default().with_columns(["nope"])),
        Err(Error::ColumnNotFound { .. })
    ));
    let bytes = std::fs::read(&p).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        read_parquet(&cut, &ReadOptions::default()),
        Err(Error::Table { .. })
    ));
}
