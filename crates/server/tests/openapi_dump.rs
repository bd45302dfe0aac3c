#[test]
fn dump() {
    let doc = purser_server::openapi::document();
    std::fs::write("/tmp/oa/before.json", serde_json::to_string_pretty(&doc).unwrap()).unwrap();
}
