//! Image endpoints.

use std::sync::Arc;

use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{header, Request, StatusCode};
use tokio_util::io::{StreamReader, SyncIoBridge};

use amika_api::BuildImage;

use super::reply::{failure, json, no_content, Reply};
use super::{blocking, read_json};
use crate::error::Error;
use crate::service::Service;
use crate::unpack::Compression;

/// `GET /v1/images`.
pub async fn list(service: Arc<Service>) -> Reply {
    match blocking(move || service.list_images()).await {
        Ok(images) => json(StatusCode::OK, &images),
        Err(e) => failure(&e),
    }
}

/// `GET /v1/images/{name}`.
pub async fn show(service: Arc<Service>, name: &str) -> Reply {
    let name = name.to_owned();
    match blocking(move || service.image(&name)).await {
        Ok(image) => json(StatusCode::OK, &image),
        Err(e) => failure(&e),
    }
}

/// `PUT /v1/images/{name}`: the body is a tar stream, optionally gzip- or zstd-encoded.
pub async fn import(service: Arc<Service>, name: &str, request: Request<Incoming>) -> Reply {
    let compression = match compression(&request) {
        Ok(c) => c,
        Err(e) => return failure(&e),
    };
    let stream = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    // The unpacker is synchronous; the bridge lets it pull the body from a blocking thread
    // while the connection keeps being driven by the runtime.
    let mut reader = SyncIoBridge::new(StreamReader::new(stream));
    let name = name.to_owned();
    match blocking(move || service.import_image(&name, &mut reader, compression)).await {
        Ok(image) => json(StatusCode::CREATED, &image),
        Err(e) => failure(&e),
    }
}

fn compression(request: &Request<Incoming>) -> Result<Compression, Error> {
    let Some(value) = request.headers().get(header::CONTENT_ENCODING) else {
        return Ok(Compression::None);
    };
    match value.to_str().unwrap_or("") {
        "identity" | "" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "zstd" => Ok(Compression::Zstd),
        other => Err(Error::InvalidRequest(format!(
            "unsupported Content-Encoding '{other}'; send gzip, zstd or a plain tar"
        ))),
    }
}

/// `POST /v1/images/build`: builds a preset's image, or returns the ready one.
pub async fn build(service: Arc<Service>, request: Request<Incoming>) -> Reply {
    let body: BuildImage = match read_json(request).await {
        Ok(body) => body,
        Err(e) => return failure(&e),
    };
    match blocking(move || service.build_image(&body.preset, body.force)).await {
        Ok(image) => json(StatusCode::OK, &image),
        Err(e) => failure(&e),
    }
}

/// `DELETE /v1/images/{name}`.
pub async fn delete(service: Arc<Service>, name: &str) -> Reply {
    let name = name.to_owned();
    match blocking(move || service.delete_image(&name)).await {
        Ok(()) => no_content(),
        Err(e) => failure(&e),
    }
}
