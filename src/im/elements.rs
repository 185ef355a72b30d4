//! The readable form of an IM message body (`MsgBody`, an array of `{MsgType, MsgContent}`
//! elements): what a ticket comment and the transcript show for each element type.
//!
//! Text is kept as it is; image, file, sound and video become a line with their name or length,
//! size and the download URL IM gives; face, location and custom elements a short description.
//! Field names follow IM's element formats (`TIMImageElem.ImageInfoArray[].URL`,
//! `TIMFileElem.FileName/FileSize/Url`, `TIMSoundElem.Second/Size/Url`,
//! `TIMVideoFileElem.VideoSecond/VideoSize/VideoUrl`, …).

use serde_json::Value;

/// Custom element payloads are cut to this many characters in the readable form.
const CUSTOM_DATA_CHARS: usize = 200;

/// One line per element, in order.
pub fn describe(body: &[Value]) -> String {
    body.iter()
        .map(describe_element)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of a body that is a single text element (chat commands are only those).
pub fn plain_text(body: &[Value]) -> Option<&str> {
    match body {
        [only] if only.get("MsgType").and_then(Value::as_str) == Some("TIMTextElem") => {
            only.pointer("/MsgContent/Text").and_then(Value::as_str)
        }
        _ => None,
    }
}

fn describe_element(elem: &Value) -> String {
    let kind = elem.get("MsgType").and_then(Value::as_str).unwrap_or("");
    let c = elem.get("MsgContent").unwrap_or(&Value::Null);
    let s = |key: &str| c.get(key).and_then(Value::as_str).filter(|v| !v.is_empty());
    let n = |key: &str| c.get(key).and_then(Value::as_f64);
    match kind {
        "TIMTextElem" => s("Text").unwrap_or_default().to_owned(),
        "TIMImageElem" => {
            // Type 1 is the original; otherwise the largest one given.
            let images = c.get("ImageInfoArray").and_then(Value::as_array);
            let best = images.and_then(|list| {
                list.iter()
                    .find(|i| i.get("Type").and_then(Value::as_u64) == Some(1))
                    .or_else(|| {
                        list.iter()
                            .max_by_key(|i| i.get("Size").and_then(Value::as_u64).unwrap_or(0))
                    })
            });
            let url = best.and_then(|i| i.get("URL")).and_then(Value::as_str);
            let dims = best.and_then(|i| {
                Some(format!(
                    "{}×{}",
                    i.get("Width")?.as_u64()?,
                    i.get("Height")?.as_u64()?
                ))
            });
            let size = best.and_then(|i| i.get("Size")).and_then(Value::as_f64);
            media_line("Image", None, &[dims, size.map(bytes)], url)
        }
        "TIMFileElem" => media_line("File", s("FileName"), &[n("FileSize").map(bytes)], s("Url")),
        "TIMSoundElem" => media_line(
            "Voice message",
            None,
            &[n("Second").map(seconds), n("Size").map(bytes)],
            s("Url"),
        ),
        "TIMVideoFileElem" => media_line(
            "Video",
            None,
            &[n("VideoSecond").map(seconds), n("VideoSize").map(bytes)],
            s("VideoUrl"),
        ),
        "TIMFaceElem" => match (n("Index"), s("Data")) {
            (_, Some(data)) => format!("[Sticker: {}]", cut(data, 40)),
            (Some(i), None) => format!("[Sticker #{i}]"),
            _ => "[Sticker]".to_owned(),
        },
        "TIMLocationElem" => {
            let at = match (n("Latitude"), n("Longitude")) {
                (Some(lat), Some(lon)) => format!(" ({lat:.5}, {lon:.5})"),
                _ => String::new(),
            };
            format!("[Location: {}{at}]", s("Desc").unwrap_or("shared location"))
        }
        "TIMCustomElem" => {
            let what = s("Desc").or_else(|| s("Data")).unwrap_or("no description");
            format!("[Custom message: {}]", cut(what, CUSTOM_DATA_CHARS))
        }
        "TIMRelayElem" => format!(
            "[Forwarded messages{}]",
            s("Title").map(|t| format!(": {t}")).unwrap_or_default()
        ),
        "" => "[Unreadable message element]".to_owned(),
        other => format!("[{other}]"),
    }
}

/// `[Kind: name (a, b)] url` with the parts that are known.
fn media_line(
    kind: &str,
    name: Option<&str>,
    facts: &[Option<String>],
    url: Option<&str>,
) -> String {
    let facts: Vec<&str> = facts.iter().flatten().map(String::as_str).collect();
    let mut line = format!("[{kind}");
    if let Some(name) = name {
        line.push_str(": ");
        line.push_str(name);
    }
    if !facts.is_empty() {
        line.push_str(&format!(" ({})", facts.join(", ")));
    }
    line.push(']');
    if let Some(url) = url {
        line.push(' ');
        line.push_str(url);
    }
    line
}

fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = n.max(0.0);
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn seconds(n: f64) -> String {
    format!("{n:.0} s")
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_element_type_has_a_readable_form() {
        let body = json!([
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "Hello\nthere"}},
            {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1, "ImageInfoArray": [
                {"Type": 3, "Size": 100, "Width": 64, "Height": 48, "URL": "https://img/t"},
                {"Type": 1, "Size": 204800, "Width": 1280, "Height": 960, "URL": "https://img/o"}]}},
            {"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://f/r.pdf", "FileSize": 1536, "FileName": "receipt.pdf", "Download_Flag": 2}},
            {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "https://s/v.m4a", "Size": 5000, "Second": 12, "Download_Flag": 2}},
            {"MsgType": "TIMVideoFileElem", "MsgContent": {"VideoUrl": "https://v/c.mp4", "VideoSize": 3145728, "VideoSecond": 30}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 3}},
            {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "Shenzhen", "Latitude": 22.5431, "Longitude": 114.0579}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{\"order\":42}", "Desc": "Order card"}},
            {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "Chat history"}},
            {"MsgType": "TIMNewElem", "MsgContent": {}}
        ]);
        let text = describe(body.as_array().unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "Hello",
                "there",
                "[Image (1280×960, 200.0 KB)] https://img/o",
                "[File: receipt.pdf (1.5 KB)] https://f/r.pdf",
                "[Voice message (12 s, 4.9 KB)] https://s/v.m4a",
                "[Video (30 s, 3.0 MB)] https://v/c.mp4",
                "[Sticker #3]",
                "[Location: Shenzhen (22.54310, 114.05790)]",
                "[Custom message: Order card]",
                "[Forwarded messages: Chat history]",
                "[TIMNewElem]",
            ]
        );
    }

    #[test]
    fn only_a_lone_text_element_is_plain_text() {
        let text = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "/status"}}]);
        assert_eq!(plain_text(text.as_array().unwrap()), Some("/status"));
        let two = json!([
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "/status"}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1}}
        ]);
        assert_eq!(plain_text(two.as_array().unwrap()), None);
        assert_eq!(describe(&[json!(1)]), "[Unreadable message element]");
    }
}
