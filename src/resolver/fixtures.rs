//! Catalogue and inventory records for the resolver's and the charging
//! engine's unit tests.

use crate::model::*;

/// A sponsor with one PLMN; `proxy` is its Gy/Ro proxy's Origin-Host and,
/// when given, `translation` the (sponsor, operator) prefixes it rewrites.
pub(crate) fn sponsor(
    id: &str,
    plmn: &str,
    proxy: Option<&str>,
    translation: Option<(&str, &str)>,
) -> Sponsor {
    Sponsor {
        id: id.into(),
        name: id.into(),
        plmns: vec![plmn.into()],
        translation: translation.map(|(s, o)| Translation {
            sponsor_prefix: s.into(),
            operator_prefix: o.into(),
        }),
        proxy_origin_hosts: proxy.into_iter().map(Into::into).collect(),
        currency: "EUR".into(),
        provision_in_home_hss: translation.is_none(),
    }
}

pub(crate) fn product(name: &str, rate_codes: &[&str]) -> Product {
    Product {
        name: name.into(),
        rate_codes: rate_codes.iter().map(|c| c.to_string()).collect(),
        rate_code_groups: vec![],
        ..Product::default()
    }
}

/// A profile with these IMSIs in slots 1, 2, … and no secrets.
pub(crate) fn profile(iccid: &str, imsis: &[&str], state: ProfileState) -> Profile {
    Profile {
        iccid: iccid.into(),
        pool: "p".into(),
        imsis: imsis.iter().map(|i| i.to_string()).collect(),
        transport_key_label: String::new(),
        ki: Secret::default(),
        opc: Secret::default(),
        pin1: Secret::default(),
        puk1: Secret::default(),
        pin2: Secret::default(),
        puk2: Secret::default(),
        state,
    }
}
