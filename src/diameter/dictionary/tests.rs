use super::*;

#[test]
fn builtin_dictionaries_load_and_know_the_gy_avps() {
    let d = Dictionary::builtin();
    assert_eq!(d.avp(263, 0).unwrap().name, "Session-Id");
    assert_eq!(d.avp(1, 0).unwrap().name, "User-Name");
    assert_eq!(d.avp(1, VENDOR_3GPP).unwrap().name, "3GPP-IMSI");
    let uli = d.avp(22, VENDOR_3GPP).unwrap();
    assert_eq!(uli.data_type, DataType::OctetString);
    let ccr = d.command(4, 272).unwrap();
    let cc_num = d.avp_id(415, 0).unwrap();
    let slot = ccr.request.slot(cc_num).unwrap();
    assert_eq!(ccr.request.rules[slot].min, 1);
    assert_eq!(d.command(0, 257).unwrap().short, "CE");
    assert!(d.avp(456, 0).unwrap().group.is_some());
    assert_eq!(d.avp(416, 0).unwrap().enum_name(4), Some("EVENT_REQUEST"));
}
