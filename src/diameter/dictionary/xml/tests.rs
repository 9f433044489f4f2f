use super::super::Dictionary;
use std::path::PathBuf;

fn load(xml: &str) -> Result<Dictionary, super::DictionaryError> {
    Dictionary::from_sources([(PathBuf::from("vendor.xml"), xml.to_string())])
}

#[test]
fn errors_name_file_and_line() {
    let e = load("<diameter>\n<application id=\"4\">\n<avp name=\"X\" code=\"1\">\n<data type=\"Bogus\"/></avp></application></diameter>").unwrap_err();
    assert_eq!(e.file, PathBuf::from("vendor.xml"));
    assert_eq!(e.line, 4);
    assert!(e.message.contains("Bogus"), "{e}");

    let e = load("<diameter>\n<application id=\"4\">\n<command code=\"1\" name=\"C\"><request>\n<rule avp=\"Nope\" required=\"true\"/></request></command></application></diameter>").unwrap_err();
    assert_eq!(e.line, 4);
    assert!(
        e.to_string()
            .starts_with("vendor.xml:4: rule names AVP 'Nope'"),
        "{e}"
    );

    let e = load("<diameter><application id=\"4\"><avp name=\"X\" code=\"1\"><data type=\"Unsigned32\"/></avp>\n<avp name=\"Y\" code=\"1\"><data type=\"Unsigned32\"/></avp></application></diameter>").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("conflicts"), "{e}");

    let e = load("<diameter><application id=\"4\">\n<avp name=\"X\" code=\"1\"><data type=\"Unsigned32\"></avp></application></diameter>").unwrap_err();
    assert!(e.message.contains("XML"), "{e}");
}

#[test]
fn vendor_files_restating_base_avps_merge() {
    let a = "<diameter><application id=\"0\"><avp name=\"Result-Code\" code=\"268\" must=\"M\"><data type=\"Unsigned32\"/></avp></application></diameter>";
    let d = Dictionary::from_sources([
        (PathBuf::from("a.xml"), a.to_string()),
        (PathBuf::from("b.xml"), a.to_string()),
    ])
    .unwrap();
    assert_eq!(d.avp_count(), 1);
}
