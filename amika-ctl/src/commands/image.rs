//! `amika-ctl image ...`: import, list, show and delete images.

use std::path::Path;
use std::time::Instant;

use amika_api::{paths, BuildImage, Image, ImageSource, ImageState};

use super::{building, check_name, check_names, each::delete_each};
use crate::cli::{ImageCommand, OutputFormat};
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, optional_size, short_time, Table};
use crate::progress::{self, Progress};
use crate::upload;

/// Runs one `image` subcommand.
pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: ImageCommand,
) -> Result<(), CtlError> {
    match command {
        ImageCommand::Import { name, path } => import(client, format, &name, &path).await,
        ImageCommand::Build { preset, force } => build(client, format, preset, force).await,
        ImageCommand::List => {
            let images: Vec<Image> = client.get_json(paths::IMAGES).await?;
            output::show(format, &images, |images| table(images).render())
        }
        ImageCommand::Show { name } => {
            check_name(&name)?;
            let image: Image = client.get_json(&paths::image(&name)).await?;
            output::show(format, &image, render)
        }
        ImageCommand::Delete { names } => {
            check_names(&names)?;
            delete_each(client, format, &names, paths::image).await
        }
    }
}

/// Builds the preset's image, showing the build's steps on stderr while it runs.
async fn build(
    client: &Client,
    format: OutputFormat,
    preset: String,
    force: bool,
) -> Result<(), CtlError> {
    let mut display = building::Display::new(format, Some(&preset), Instant::now());
    let feed = building::subscribe(client).await;
    let request = BuildImage { preset, force };
    let answer = client.post_json(paths::IMAGES_BUILD, &request);
    let image: Image = building::during(feed, &mut display, answer).await?;
    output::show(format, &image, render)
}

async fn import(
    client: &Client,
    format: OutputFormat,
    name: &str,
    path: &Path,
) -> Result<(), CtlError> {
    check_name(name)?;
    let progress = Progress::new(format!("importing {name}"));
    let shown = progress.is_shown();
    let upload = upload::start(path, progress)?;
    let result = client
        .put_stream(&paths::image(name), upload.body, upload.compression)
        .await;
    if shown {
        progress::clear_line();
    }
    let image: Image = result?;
    output::show(format, &image, render)
}

fn source(image: &Image) -> String {
    match &image.source {
        ImageSource::Preset { preset } => format!("preset:{preset}"),
        ImageSource::Import => "import".to_string(),
    }
}

fn state(state: ImageState) -> &'static str {
    match state {
        ImageState::Building => "building",
        ImageState::Ready => "ready",
        ImageState::Failed => "failed",
    }
}

fn table(images: &[Image]) -> Table {
    let mut table = Table::new(vec!["NAME", "STATE", "SOURCE", "SIZE", "CREATED"]);
    for image in images {
        table.push(vec![
            image.name.clone(),
            state(image.state).to_string(),
            source(image),
            optional_size(image.size_bytes),
            short_time(&image.created_at),
        ]);
    }
    table
}

fn render(image: &Image) -> String {
    let mut pairs = vec![
        ("name", image.name.clone()),
        ("id", image.id.clone()),
        ("state", state(image.state).to_string()),
        ("source", source(image)),
        ("size", optional_size(image.size_bytes)),
        ("created", image.created_at.clone()),
    ];
    if let Some(error) = &image.error {
        pairs.push(("error", error.clone()));
    }
    output::fields(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, source: ImageSource, size: Option<u64>) -> Image {
        Image {
            id: "00000000000000aa".into(),
            name: name.into(),
            source,
            state: ImageState::Ready,
            size_bytes: size,
            error: None,
            created_at: "2026-05-01T12:00:00.25Z".into(),
        }
    }

    #[test]
    fn list_shows_source_and_size() {
        let preset = ImageSource::Preset {
            preset: "minimal".into(),
        };
        let images = [
            image("minimal", preset, Some(5 << 20)),
            image("rootfs", ImageSource::Import, None),
        ];
        let expected = "\
NAME     STATE  SOURCE          SIZE     CREATED
minimal  ready  preset:minimal  5.0 MiB  2026-05-01T12:00:00Z
rootfs   ready  import          -        2026-05-01T12:00:00Z
";
        assert_eq!(table(&images).render(), expected);
    }

    #[test]
    fn show_adds_the_error_only_when_there_is_one() {
        let mut failed = image("broken", ImageSource::Import, None);
        assert!(!render(&failed).contains("error:"));
        failed.state = ImageState::Failed;
        failed.error = Some("entry '../x' escapes the tree".into());
        let text = render(&failed);
        assert!(text.contains("state:   failed\n"), "{text}");
        assert!(
            text.ends_with("error:   entry '../x' escapes the tree\n"),
            "{text}"
        );
    }
}
