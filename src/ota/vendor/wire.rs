//! The JSON of gyro's `imsiSwap` contract (docs/guide/ota.md, "The OTA
//! vendor contract"): the request gyro sends and the reading of the vendor's answer
//! into a final outcome or a retryable error. No I/O here, so every answer
//! the vendor may give is unit-tested without a socket.

use serde::{Deserialize, Serialize};

use super::{SwapOutcome, SwapRequest, VendorError};

/// How much of an answer that is not ES2+ is kept in the error: enough to
/// tell a proxy's error page from a vendor's, never a whole page.
const BODY_CHARS: usize = 200;

/// The request body: the ES2+ envelope, then the swap's own fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Body<'a> {
    header: RequestHeader<'a>,
    iccid: &'a str,
    slot: u8,
    old_imsi: &'a str,
    new_imsi: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestHeader<'a> {
    function_requester_identifier: &'a str,
    function_call_identifier: String,
}

impl<'a> Body<'a> {
    pub(super) fn new(requester: &'a str, req: &'a SwapRequest) -> Body<'a> {
        Body {
            header: RequestHeader {
                function_requester_identifier: requester,
                function_call_identifier: req.call_identifier(),
            },
            iccid: &req.iccid,
            slot: req.slot,
            old_imsi: &req.old_imsi,
            new_imsi: &req.new_imsi,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    header: AnswerHeader,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnswerHeader {
    function_execution_status: ExecutionStatus,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionStatus {
    status: String,
    #[serde(default)]
    status_code_data: Option<StatusCodeData>,
}

/// ES2+ `statusCodeData`; every member optional, as vendors leave some out.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct StatusCodeData {
    subject_code: Option<String>,
    reason_code: Option<String>,
    message: Option<String>,
}

/// Reads one HTTP answer. Final: an ES2+ `functionExecutionStatus` in a 2xx
/// answer (any of the four statuses) or in a 4xx one (`Failed`/`Expired`).
/// Everything else is a retryable error: a 5xx, 408 or 429 whatever its
/// body (the vendor's own trouble, so its "Failed" is not a verdict on the
/// swap), and any answer whose body is not ES2+ (a proxy's page, a 404 of a
/// wrong URL, a 401 before a token is fixed), bounded by `max_attempts`.
pub(super) fn read_answer(status: u16, body: &[u8]) -> Result<SwapOutcome, VendorError> {
    if status >= 500 || status == 408 || status == 429 {
        return Err(VendorError::Unavailable {
            status,
            body: excerpt(body),
        });
    }
    let unparseable = |why: String| VendorError::Unparseable { status, why };
    if !(200..500).contains(&status) || (300..400).contains(&status) {
        // Redirects are not followed: a POST moved elsewhere is a wrong URL.
        return Err(unparseable(format!("HTTP {status}: {}", excerpt(body))));
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| unparseable(format!("not an ES2+ answer ({e}): {}", excerpt(body))))?;
    let fes = answer.header.function_execution_status;
    let data = fes.status_code_data.unwrap_or_default();
    match fes.status.as_str() {
        "Executed-Success" | "Executed-WithWarning" if status < 300 => Ok(SwapOutcome::Confirmed),
        "Failed" | "Expired" => Ok(SwapOutcome::Refused {
            subject_code: data.subject_code.unwrap_or_default(),
            reason_code: data.reason_code.unwrap_or_default(),
            // The status itself says "Expired" when the vendor gave no text.
            message: data.message.unwrap_or(fes.status),
        }),
        other => Err(unparseable(format!(
            "HTTP {status} with functionExecutionStatus.status '{other}'"
        ))),
    }
}

/// The warning of an `Executed-WithWarning` answer, for the log: the swap
/// is done, but the vendor had something to say.
pub(super) fn warning(body: &[u8]) -> Option<String> {
    let answer: Answer = serde_json::from_slice(body).ok()?;
    let fes = answer.header.function_execution_status;
    if fes.status != "Executed-WithWarning" {
        return None;
    }
    let d = fes.status_code_data.unwrap_or_default();
    Some(format!(
        "{}/{}: {}",
        d.subject_code.unwrap_or_default(),
        d.reason_code.unwrap_or_default(),
        d.message.unwrap_or_default()
    ))
}

/// The start of a body, on one line, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_CHARS)
        .collect();
    one_line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &str, data: &str) -> Vec<u8> {
        format!(r#"{{"header":{{"functionExecutionStatus":{{"status":"{status}"{data}}}}}}}"#)
            .into_bytes()
    }

    const CODES: &str = r#","statusCodeData":{"subjectCode":"8.1.1","reasonCode":"3.8","subjectIdentifier":"89049032123451234512345678901235","message":"IMSI unknown"}"#;

    #[test]
    fn request_body_is_the_es2plus_envelope_with_camel_case_fields() {
        let req = SwapRequest {
            swap_id: 42,
            iccid: "8944500102198304826".into(),
            slot: 2,
            old_imsi: "276030000000001".into(),
            new_imsi: "276020000000009".into(),
        };
        let v = serde_json::to_value(Body::new("gyro-test", &req)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "header": {
                    "functionRequesterIdentifier": "gyro-test",
                    "functionCallIdentifier": "gyro-swap-42",
                },
                "iccid": "8944500102198304826",
                "slot": 2,
                "oldImsi": "276030000000001",
                "newImsi": "276020000000009",
            })
        );
    }

    #[test]
    fn success_and_warning_confirm() {
        for s in ["Executed-Success", "Executed-WithWarning"] {
            assert_eq!(read_answer(200, &answer(s, "")), Ok(SwapOutcome::Confirmed));
        }
        let w = answer("Executed-WithWarning", CODES);
        assert_eq!(warning(&w).as_deref(), Some("8.1.1/3.8: IMSI unknown"));
        assert_eq!(warning(&answer("Executed-Success", "")), None);
    }

    #[test]
    fn failed_refuses_with_its_codes_in_2xx_and_4xx() {
        for http in [200, 400, 404, 409] {
            assert_eq!(
                read_answer(http, &answer("Failed", CODES)),
                Ok(SwapOutcome::Refused {
                    subject_code: "8.1.1".into(),
                    reason_code: "3.8".into(),
                    message: "IMSI unknown".into(),
                }),
                "HTTP {http}"
            );
        }
    }

    #[test]
    fn expired_without_codes_refuses_and_names_itself() {
        assert_eq!(
            read_answer(200, &answer("Expired", "")),
            Ok(SwapOutcome::Refused {
                subject_code: String::new(),
                reason_code: String::new(),
                message: "Expired".into(),
            })
        );
    }

    #[test]
    fn server_trouble_is_retryable_even_with_an_es2plus_body() {
        for http in [500, 502, 503, 504, 408, 429] {
            let e = read_answer(http, &answer("Failed", CODES));
            assert!(
                matches!(&e, Err(VendorError::Unavailable { status, .. }) if *status == http),
                "{e:?}"
            );
            assert!(e.is_err_and(|e| e.is_retryable()));
        }
    }

    #[test]
    fn answers_that_are_not_es2plus_are_retryable() {
        let cases: [(u16, &[u8]); 6] = [
            (200, b"<html>ok</html>"),
            (200, b"{}"),
            (401, b"Unauthorized"),
            (404, b"not found"),
            (302, b""),
            (
                200,
                br#"{"header":{"functionExecutionStatus":{"status":"Pending"}}}"#,
            ),
        ];
        for (http, body) in cases {
            let e = read_answer(http, body);
            assert!(
                matches!(&e, Err(VendorError::Unparseable { status, .. }) if *status == http),
                "{http}: {e:?}"
            );
            assert!(e.is_err_and(|e| e.is_retryable()));
        }
    }

    #[test]
    fn a_success_status_in_a_4xx_answer_is_not_believed() {
        let e = read_answer(400, &answer("Executed-Success", ""));
        assert!(matches!(e, Err(VendorError::Unparseable { .. })), "{e:?}");
    }

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        let long = format!("line one\r\nline two {}", "x".repeat(500));
        let e = excerpt(long.as_bytes());
        assert!(e.chars().count() <= BODY_CHARS);
        assert!(e.starts_with("line one  line two"));
    }
}
