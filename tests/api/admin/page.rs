//! The admin web page (the API behind it is what the other files test).

use reqwest::{Method, StatusCode};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_admin_page_is_public_html() {
    let app = spawn_app().await;
    let page = app.request(Method::GET, "/admin/", None, None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("/auth/token"));
    let redirect = app.request(Method::GET, "/admin", None, None).await;
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
}
