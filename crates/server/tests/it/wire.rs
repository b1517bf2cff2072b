//! Malformed requests over the wire get AWS-style client errors that say what is wrong, with
//! the request id, and change nothing.

use std::time::SystemTime;

use crate::harness::*;

async fn send(request: reqwest::RequestBuilder) -> (u16, String, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["__type"].as_str().unwrap_or_default().to_owned(),
        body["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_client_errors_that_name_the_problem() {
    let cluster = TestCluster::start(67, 3, &[]);
    cluster.leader().await;
    let client = cluster.client(2);
    let before = list_keys(&client).await.unwrap().len();
    let signed = |target: &str, body: &[u8]| {
        client
            .request(target, body.to_vec(), SystemTime::now())
            .unwrap()
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, &str, &str)> = vec![
        (
            signed("TrentService.CreateKey", b"{not json"),
            400,
            "SerializationException",
            "not valid JSON",
        ),
        (
            signed("TrentService.CreateKey", b"[1]"),
            400,
            "SerializationException",
            "JSON object",
        ),
        (
            signed("TrentService.DescribeKey", br#"{"KeyId": 5}"#),
            400,
            "SerializationException",
            "can not be converted",
        ),
        (
            signed("TrentService.CreateKey", br#"{"Colour": "red"}"#),
            400,
            "ValidationException",
            "Colour",
        ),
        (
            signed("TrentService.ReplicateKey", b"{}"),
            400,
            "UnsupportedOperationException",
            "ReplicateKey",
        ),
        (
            signed("TrentService.Frobnicate", b"{}"),
            400,
            "UnknownOperationException",
            "Frobnicate",
        ),
        (
            signed("TrentAdmin.Frobnicate", b"{}"),
            400,
            "UnknownOperationException",
            "Frobnicate",
        ),
        (
            signed("TrentService.CreateKey", &vec![b' '; 300 * 1024]),
            413,
            "RequestEntityTooLargeException",
            "larger than",
        ),
    ];
    for (request, status, code, says) in cases {
        let (got_status, got_code, message) = send(request).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{message}");
        assert!(message.contains(says), "{code}: {message}");
    }
    let raw = reqwest::Client::new();
    let url = format!("{}/", cluster.nodes[0].api());
    let (status, code, message) = send(
        raw.post(&url)
            .header("content-type", "application/x-amz-json-1.1")
            .body("{}"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (400, "UnknownOperationException"),
        "{message}"
    );
    assert!(message.contains("X-Amz-Target"), "{message}");
    let (status, code, message) = send(
        raw.post(&url)
            .header("content-type", "text/plain")
            .header("x-amz-target", "TrentService.ListKeys")
            .body("{}"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (400, "SerializationException"),
        "{message}"
    );
    assert!(message.contains("Content-Type"), "{message}");
    assert_eq!(list_keys(&client).await.unwrap().len(), before);
}
