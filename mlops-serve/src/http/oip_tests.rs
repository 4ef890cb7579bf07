//! Unit tests of `oip.rs`: JSON for every datatype, the binary extension, bad bodies.

use super::*;

fn tensors(body: &str) -> Result<Tensors> {
    to_tensors(parse_request(body.as_bytes())?.inputs, &[])
}

fn reason(e: Error) -> (String, String) {
    match e {
        Error::InvalidInput { field, reason } => (field, reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nested_and_flat_data_give_the_same_tensor() {
    let flat =
        tensors(r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3.5,4]}]}"#)
            .unwrap();
    let nested = tensors(
        r#"{"inputs":[{"data":[[1,2],[3.5,4]],"name":"x","datatype":"FP32","shape":[2,2]}]}"#,
    )
    .unwrap();
    assert_eq!(flat, nested);
    assert_eq!(flat["x"].as_f32(), Some(&[1.0f32, 2.0, 3.5, 4.0][..]));
}

#[test]
fn integers_keep_full_precision() {
    let t = tensors(
        r#"{"inputs":[{"name":"i","shape":[3],"datatype":"INT64","data":[9007199254740993,-9223372036854775808,3.0]}]}"#,
    )
    .unwrap();
    assert_eq!(
        t["i"].data(),
        &TensorData::I64(vec![9_007_199_254_740_993, i64::MIN, 3])
    );
}

#[test]
fn values_that_do_not_fit_name_the_input() {
    for (dt, v) in [
        ("INT64", "1.5"),
        ("INT64", "9223372036854775808"),
        ("INT64", "1e19"),
        ("UINT8", "256"),
        ("UINT8", "-1"),
        ("UINT8", "0.5"),
        ("FP32", "1e39"),
    ] {
        let body =
            format!(r#"{{"inputs":[{{"name":"v","shape":[1],"datatype":"{dt}","data":[{v}]}}]}}"#);
        let (field, why) = reason(tensors(&body).unwrap_err());
        assert_eq!(field, "v", "{dt} {v}");
        assert!(why.contains(dt), "{why}");
    }
    let (field, why) = reason(
        tensors(r#"{"inputs":[{"name":"s","shape":[2],"datatype":"FP64","data":[1,"NaN"]}]}"#)
            .unwrap_err(),
    );
    assert_eq!(field, "s");
    assert!(why.contains("element 1 is a string"), "{why}");
}

#[test]
fn nan_elements_are_found_in_nested_arrays() {
    let (field, why) = reason(
        tensors(
            r#"{"inputs":[{"name":"s","shape":[2,2],"datatype":"FP32","data":[[1,2],[null,{"a":1}]]}]}"#,
        )
        .unwrap_err(),
    );
    assert_eq!(field, "s");
    assert!(why.contains("element 2 is null"), "{why}");
}

#[test]
fn shapes_and_datatypes_are_checked() {
    let (field, why) = reason(
        tensors(r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]}"#)
            .unwrap_err(),
    );
    assert_eq!(field, "x");
    assert!(why.contains("needs 4 elements, data has 3"), "{why}");
    let (field, why) = reason(
        tensors(r#"{"inputs":[{"name":"b","shape":[1],"datatype":"BOOL","data":[1]}]}"#)
            .unwrap_err(),
    );
    assert_eq!(field, "b");
    assert!(
        why.contains("element 0 is a number, not a boolean"),
        "{why}"
    );
    let (field, why) = reason(
        tensors(r#"{"inputs":[{"name":"b","shape":[1],"datatype":"FP8","data":[1]}]}"#)
            .unwrap_err(),
    );
    assert_eq!(field, "b");
    assert!(why.contains("\"FP8\"") && why.contains("BYTES"), "{why}");
    let (_, why) = reason(
        tensors(
            r#"{"inputs":[{"name":"x","shape":[18446744073709551615,2],"datatype":"FP32","data":[]}]}"#,
        )
        .unwrap_err(),
    );
    assert!(why.contains("overflowing"), "{why}");
    let (field, _) = reason(
        tensors(
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}"#,
        )
        .unwrap_err(),
    );
    assert_eq!(field, "x");
}

#[test]
fn malformed_bodies_are_invalid_requests() {
    for body in [
        "",
        "{",
        "[]",
        r#"{"id":"a"}"#,
        r#"{"inputs":{}}"#,
        r#"{"inputs":[{"name":"x","shape":"2","datatype":"FP32","data":[1]}]}"#,
        r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[NaN]}]}"#,
        r#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#,
    ] {
        let (field, why) = reason(parse_request(body.as_bytes()).unwrap_err());
        assert_eq!(field, "<request>", "{body}");
        assert!(why.starts_with("invalid request body"), "{why}");
    }
}

/// One request with every datatype in JSON, and the tensors it must give.
#[test]
fn every_datatype_reads_from_json() {
    let t = tensors(
        r#"{"inputs":[
        {"name":"bool","shape":[2],"datatype":"BOOL","data":[true,false]},
        {"name":"u8","shape":[2],"datatype":"UINT8","data":[0,255]},
        {"name":"u16","shape":[2],"datatype":"UINT16","data":[0,65535]},
        {"name":"u32","shape":[2],"datatype":"UINT32","data":[0,4294967295]},
        {"name":"u64","shape":[2],"datatype":"UINT64","data":[0,18446744073709551615]},
        {"name":"i8","shape":[2],"datatype":"INT8","data":[-128,127]},
        {"name":"i16","shape":[2],"datatype":"INT16","data":[-32768,32767]},
        {"name":"i32","shape":[2],"datatype":"INT32","data":[-2147483648,2147483647]},
        {"name":"i64","shape":[2],"datatype":"INT64","data":[-9223372036854775808,9223372036854775807]},
        {"name":"f16","shape":[2],"datatype":"FP16","data":[0.5,-65504]},
        {"name":"f32","shape":[2],"datatype":"FP32","data":[0.5,-1]},
        {"name":"f64","shape":[2],"datatype":"FP64","data":[0.1,2]},
        {"name":"s","shape":[2],"datatype":"BYTES","data":["héllo",""]}]}"#,
    )
    .unwrap();
    assert_eq!(t.len(), 13);
    assert_eq!(t["bool"].data(), &TensorData::Bool(vec![true, false]));
    assert_eq!(t["u64"].data(), &TensorData::U64(vec![0, u64::MAX]));
    assert_eq!(t["i8"].data(), &TensorData::I8(vec![-128, 127]));
    assert_eq!(
        t["f16"].data(),
        &TensorData::F16(vec![half::f16::from_f32(0.5), half::f16::MIN])
    );
    assert_eq!(
        t["s"].data(),
        &TensorData::Bytes(vec!["héllo".as_bytes().to_vec(), vec![]])
    );
    for d in DType::ALL {
        assert!(t.values().any(|x| x.dtype() == d), "{d}");
    }
    for (dt, v) in [
        ("INT8", "128"),
        ("INT8", "-129"),
        ("UINT16", "65536"),
        ("UINT32", "-1"),
        ("UINT64", "1.5"),
        ("INT32", "2147483648"),
        ("INT16", "1e10"),
        ("FP16", "65520"),
        ("BYTES", "1"),
        ("BOOL", "\"true\""),
    ] {
        let body =
            format!(r#"{{"inputs":[{{"name":"v","shape":[1],"datatype":"{dt}","data":[{v}]}}]}}"#);
        let (field, why) = reason(tensors(&body).unwrap_err());
        assert_eq!(field, "v", "{dt} {v}");
        assert!(why.contains(dt), "{dt} {v}: {why}");
    }
}

fn with_binary(header: &str, raw: &[u8]) -> Result<Tensors> {
    to_tensors(parse_request(header.as_bytes())?.inputs, raw)
}

#[test]
fn every_datatype_round_trips_through_binary() {
    let samples = [
        TensorData::Bool(vec![true, false, true]),
        TensorData::U8(vec![0, 7, 255]),
        TensorData::U16(vec![0, 1, u16::MAX]),
        TensorData::U32(vec![0, 1, u32::MAX]),
        TensorData::U64(vec![0, 1, u64::MAX]),
        TensorData::I8(vec![i8::MIN, 0, i8::MAX]),
        TensorData::I16(vec![i16::MIN, 0, i16::MAX]),
        TensorData::I32(vec![i32::MIN, 0, i32::MAX]),
        TensorData::I64(vec![i64::MIN, 0, i64::MAX]),
        TensorData::F16(vec![
            half::f16::MIN,
            half::f16::ZERO,
            half::f16::from_f32(0.1),
        ]),
        TensorData::F32(vec![-1.5, 0.0, f32::MAX]),
        TensorData::F64(vec![-1.5, 0.1, f64::MIN_POSITIVE]),
        TensorData::Bytes(vec![b"a".to_vec(), vec![], vec![0xff, 0x00]]),
    ];
    for data in samples {
        let dt = data.dtype();
        let mut raw = Vec::new();
        encode_raw(&data, &mut raw);
        assert_eq!(raw.len(), raw_size("x", &data).unwrap(), "{dt}");
        assert_eq!(decode_raw("x", dt, &raw, 3).unwrap(), data, "{dt}");
        // The same through a whole request: JSON header, then the bytes.
        let header = format!(
            r#"{{"inputs":[{{"name":"x","shape":[3],"datatype":"{dt}","parameters":{{"binary_data_size":{}}}}}]}}"#,
            raw.len()
        );
        let t = with_binary(&header, &raw).unwrap();
        assert_eq!(t["x"].data(), &data, "{dt}");
        // A byte short, or one too many, is a 400 naming the input or the request.
        let (field, _) = reason(with_binary(&header, &raw[..raw.len() - 1]).unwrap_err());
        assert_eq!(field, "x", "{dt}");
        let mut long = raw.clone();
        long.push(0);
        let (field, why) = reason(with_binary(&header, &long).unwrap_err());
        assert_eq!(field, "<request>", "{dt}");
        assert!(why.contains("add up to"), "{why}");
        // The wrong element count for the shape.
        assert!(decode_raw("x", dt, &raw, 2).is_err(), "{dt}");
    }
}

#[test]
fn binary_and_json_inputs_mix_in_order() {
    let header = r#"{"inputs":[
        {"name":"a","shape":[2],"datatype":"INT32","parameters":{"binary_data_size":8}},
        {"name":"b","shape":[1],"datatype":"FP32","data":[2.5]},
        {"name":"c","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}"#;
    let mut raw = Vec::new();
    raw.extend_from_slice(&7i32.to_le_bytes());
    raw.extend_from_slice(&(-1i32).to_le_bytes());
    raw.extend_from_slice(&2u32.to_le_bytes());
    raw.extend_from_slice(b"ok");
    let t = with_binary(header, &raw).unwrap();
    assert_eq!(t["a"].data(), &TensorData::I32(vec![7, -1]));
    assert_eq!(t["b"].as_f32(), Some(&[2.5f32][..]));
    assert_eq!(t["c"].to_strings().unwrap(), vec!["ok"]);
}

#[test]
fn bad_binary_requests_are_clear_400s() {
    let one = |params: &str, raw: &[u8]| {
        let header = format!(
            r#"{{"inputs":[{{"name":"x","shape":[2],"datatype":"BYTES","parameters":{params}}}]}}"#
        );
        reason(with_binary(&header, raw).unwrap_err())
    };
    // A length prefix past the end; a truncated prefix; too few strings.
    let (f, why) = one(r#"{"binary_data_size":8}"#, &[9, 0, 0, 0, 1, 2, 3, 4]);
    assert_eq!(f, "x");
    assert!(why.contains("claims 9 bytes"), "{why}");
    let (_, why) = one(r#"{"binary_data_size":6}"#, &[1, 0, 0, 0, 65, 0]);
    assert!(why.contains("too few for a 4-byte length"), "{why}");
    let (_, why) = one(r#"{"binary_data_size":5}"#, &[1, 0, 0, 0, 65]);
    assert!(
        why.contains("holds 1 BYTES elements where the shape needs 2"),
        "{why}"
    );
    // Size larger than what follows; no header at all.
    let (_, why) = one(r#"{"binary_data_size":100}"#, &[0; 8]);
    assert!(why.contains("only 8 bytes"), "{why}");
    let (_, why) = one(r#"{"binary_data_size":1}"#, &[]);
    assert!(why.contains("Inference-Header-Content-Length"), "{why}");
    let (_, why) = one(r#"{"binary_data_size":"8"}"#, &[0; 8]);
    assert!(
        why.contains("binary_data_size must be a non-negative integer"),
        "{why}"
    );
    let (_, why) = one(r#"{"shared_memory_region":"r"}"#, &[]);
    assert!(why.contains("shared-memory"), "{why}");
    let (_, why) = one(r#"{}"#, &[]);
    assert!(why.contains("has no data"), "{why}");
    // BOOL bytes other than 0 and 1.
    let (_, why) = reason(decode_raw("b", DType::Bool, &[0, 2], 2).unwrap_err());
    assert!(why.contains("element 1 is byte 2"), "{why}");
    // Both data and binary_data_size.
    let header = r#"{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[1],"parameters":{"binary_data_size":1}}]}"#;
    let (_, why) = reason(with_binary(header, &[1]).unwrap_err());
    assert!(why.contains("give one"), "{why}");
}

#[test]
fn parameters_are_honoured_or_refused_by_name() {
    let req =
        |p: &str| parse_request(format!(r#"{{"inputs":[],"parameters":{p}}}"#).as_bytes()).unwrap();
    let o = RequestOptions::of(&req(
        r#"{"binary_data_output":true,"timeout":1500,"priority":1,"custom":"x"}"#,
    ))
    .unwrap();
    assert!(o.binary_data_output);
    assert_eq!(o.timeout_us, Some(1500));
    let (_, why) = reason(RequestOptions::of(&req(r#"{"sequence_id":3}"#)).unwrap_err());
    assert!(why.contains("sequence_id"), "{why}");
    assert!(RequestOptions::of(&req(r#"{"sequence_id":0}"#)).is_ok());
    let (_, why) = reason(RequestOptions::of(&req(r#"{"binary_data_output":"yes"}"#)).unwrap_err());
    assert!(
        why.contains("binary_data_output must be a boolean"),
        "{why}"
    );

    let schema = Schema::new(vec![
        TensorSpec::new("y", DType::F32, vec![-1, 1]),
        TensorSpec::new("z", DType::F32, vec![-1, 1]),
    ]);
    let outs = |j: &str| -> Vec<RequestedOutput> { serde_json::from_str(j).unwrap() };
    let forms = check_requested(
        &outs(r#"[{"name":"y","parameters":{"binary_data":true}},{"name":"z"}]"#),
        &schema,
        &RequestOptions::default(),
    )
    .unwrap();
    assert_eq!(forms, vec![Form::Binary, Form::Json]);
    let all_binary = RequestOptions {
        binary_data_output: true,
        timeout_us: None,
    };
    let forms = check_requested(
        &outs(r#"[{"name":"y","parameters":{"binary_data":false}},{"name":"z"}]"#),
        &schema,
        &all_binary,
    )
    .unwrap();
    assert_eq!(forms, vec![Form::Json, Form::Binary]);
    let (f, why) = reason(
        check_requested(
            &outs(r#"[{"name":"y","parameters":{"classification":2}}]"#),
            &schema,
            &all_binary,
        )
        .unwrap_err(),
    );
    assert_eq!(f, "y");
    assert!(why.contains("classification"), "{why}");
}

#[test]
fn json_outputs_of_every_datatype() {
    let t = |d: TensorData| Tensor::new(vec![d.len()], d).unwrap();
    let cases = [
        (t(TensorData::Bool(vec![true, false])), "[true,false]"),
        (t(TensorData::U64(vec![u64::MAX])), "[18446744073709551615]"),
        (t(TensorData::I8(vec![-3])), "[-3]"),
        (t(TensorData::F16(vec![half::f16::from_f32(0.5)])), "[0.5]"),
        (t(TensorData::Bytes(vec![b"a\"b".to_vec()])), r#"["a\"b"]"#),
    ];
    for (tensor, want) in cases {
        let o = OutputTensor::json("y", &tensor).unwrap();
        let j = serde_json::to_string(&o).unwrap();
        assert!(j.contains(&format!(r#""data":{want}"#)), "{j}");
    }
    let bad = t(TensorData::Bytes(vec![vec![0xff]]));
    let (_, why) = reason(OutputTensor::json("y", &bad).unwrap_err());
    assert!(why.contains("binary_data = true"), "{why}");
    let mut raw = Vec::new();
    let o = OutputTensor::binary("y", &bad, &mut raw).unwrap();
    let j = serde_json::to_string(&o).unwrap();
    assert!(
        j.contains(r#""parameters":{"binary_data_size":5}"#) && !j.contains("data\":"),
        "{j}"
    );
    assert_eq!(raw, [1, 0, 0, 0, 0xff]);
}
