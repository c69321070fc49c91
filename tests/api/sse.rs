//! Reading Server-Sent Events as they arrive.

use futures_util::StreamExt;
use serde_json::Value;

use crate::helpers::{from_wire, Delta, Message};

/// One event as framed on the wire; `data` stays raw JSON.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub id: Option<usize>,
    pub data: Value,
}

impl Event {
    pub fn message(&self) -> Message {
        from_wire(self.data.clone())
    }
    pub fn delta(&self) -> String {
        from_wire::<Delta>(self.data.clone()).content
    }
}

/// Events of a response body, one at a time.
pub struct Events {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<actix_web::web::Bytes>>,
    buffer: String,
}

impl Events {
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or `None` at the end of the body.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Every remaining event.
    pub async fn rest(&mut self) -> Vec<Event> {
        let mut all = Vec::new();
        while let Some(e) = self.next().await {
            all.push(e);
        }
        all
    }
}

fn parse(block: &str) -> Option<Event> {
    let (mut name, mut id, mut data) = (None, None, None);
    for line in block.lines() {
        if let Some(n) = line.strip_prefix("event: ") {
            name = Some(n.to_owned());
        } else if let Some(i) = line.strip_prefix("id: ") {
            id = Some(i.parse().expect("ids are integers"));
        } else if let Some(d) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str(d).expect("event data is JSON"));
        }
    }
    Some(Event {
        name: name?,
        id,
        data: data?,
    })
}
