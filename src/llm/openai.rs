//! The OpenAI-compatible provider (OpenAI, Azure OpenAI, Ollama, vLLM,
//! llama.cpp server, ...) through `async-openai`.
//!
//! Retries (429, 5xx and connection errors only, exponential backoff from
//! 100 ms, honouring `Retry-After`) come from async-openai's retry layer with
//! our `LLM_MAX_RETRIES`. `LLM_TIMEOUT_SECS` bounds a whole reply, retries
//! included; a streamed reply may take longer as long as no wait for the next
//! piece exceeds it (slow local models stream long answers slowly).

use std::time::{Duration, Instant};

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessageArgs, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, CreateChatCompletionRequest, CreateChatCompletionResponse,
    FinishReason,
};
use async_openai::Client;
use async_trait::async_trait;
use futures_util::StreamExt;
use secrecy::ExposeSecret;

use super::prompt::system_message;
use super::{ChatContext, ChatModel, DeltaSender, LlmError, Passage, Reply, Role, Title, Usage};
use crate::config::LlmSettings;

/// Confidence of a reply that ended normally without logprobs. Providers
/// give no better signal; we do not pretend to know more.
const CONFIDENCE_STOP: f64 = 0.8;
/// Confidence of a reply cut off by the token limit or a content filter.
const CONFIDENCE_TRUNCATED: f64 = 0.4;

pub struct OpenAiProvider {
    client: Client<OpenAIConfig>,
    model: String,
    timeout: Duration,
    request_logprobs: bool,
}

impl OpenAiProvider {
    pub fn new(settings: &LlmSettings) -> Result<Self, LlmError> {
        let mut config = OpenAIConfig::new().with_api_base(settings.base_url.trim_end_matches('/'));
        if let Some(key) = &settings.api_key {
            config = config.with_api_key(key.expose_secret());
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(settings.timeout_secs.clamp(1, 10)))
            .build()
            .map_err(|e| LlmError::Transport(e.to_string()))?;
        let service = tower::ServiceBuilder::new()
            .layer(OpenAIRetryLayer::new(settings.max_retries))
            .service(ReqwestService::new(http));
        Ok(Self {
            client: Client::with_config(config).with_http_service(service),
            model: settings.model.clone(),
            timeout: Duration::from_secs(settings.timeout_secs.max(1)),
            request_logprobs: settings.request_logprobs,
        })
    }

    fn request(
        &self,
        ctx: &ChatContext,
        reference: &[Passage],
    ) -> Result<CreateChatCompletionRequest, LlmError> {
        let mut messages: Vec<ChatCompletionRequestMessage> =
            Vec::with_capacity(ctx.history.len() + 1);
        messages.push(
            ChatCompletionRequestSystemMessage {
                content: system_message(ctx, reference).into(),
                name: None,
            }
            .into(),
        );
        for turn in &ctx.history {
            let message = match turn.role {
                Role::User => ChatCompletionRequestUserMessage {
                    content: turn.content.clone().into(),
                    name: None,
                }
                .into(),
                Role::Assistant => ChatCompletionRequestAssistantMessageArgs::default()
                    .content(turn.content.clone())
                    .build()
                    .map_err(|e| LlmError::Malformed(e.to_string()))?
                    .into(),
            };
            messages.push(message);
        }
        Ok(CreateChatCompletionRequest {
            model: self.model.clone(),
            messages,
            logprobs: self.request_logprobs.then_some(true),
            ..Default::default()
        })
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, OpenAIError>>,
    ) -> Result<T, LlmError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| LlmError::Timeout(self.timeout.as_secs()))?
            .map_err(classify)
    }
}

fn classify(err: OpenAIError) -> LlmError {
    match err {
        OpenAIError::ApiError(api) => LlmError::Status {
            status: api.status_code.as_u16(),
            message: api.api_error.message,
        },
        OpenAIError::Reqwest(e) => match e.status() {
            Some(status) => LlmError::Status {
                status: status.as_u16(),
                message: e.to_string(),
            },
            None => LlmError::Transport(e.to_string()),
        },
        OpenAIError::JSONDeserialize(e, _) => LlmError::Malformed(e.to_string()),
        OpenAIError::StreamError(e) => LlmError::Malformed(e.to_string()),
        other => LlmError::Transport(other.to_string()),
    }
}

/// Mean token probability when the provider returned logprobs, else a fixed
/// value by finish reason.
fn confidence(finish: Option<&FinishReason>, logprobs: Option<&[f32]>) -> f64 {
    let base = match finish {
        Some(FinishReason::Stop) | None => CONFIDENCE_STOP,
        Some(_) => CONFIDENCE_TRUNCATED,
    };
    match logprobs {
        Some(lps) if !lps.is_empty() => {
            let mean = lps.iter().map(|lp| f64::from(lp.exp())).sum::<f64>() / lps.len() as f64;
            let mean = mean.clamp(0.0, 1.0);
            if base < CONFIDENCE_STOP {
                mean.min(base)
            } else {
                mean
            }
        }
        _ => base,
    }
}

fn reply_from(response: CreateChatCompletionResponse, started: Instant) -> Result<Reply, LlmError> {
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::Malformed("no choices".into()))?;
    let content = choice
        .message
        .content
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| LlmError::Malformed("empty reply".into()))?;
    let logprobs: Option<Vec<f32>> = choice
        .logprobs
        .and_then(|l| l.content)
        .map(|tokens| tokens.iter().map(|t| t.logprob).collect());
    Ok(Reply {
        content,
        model: response.model,
        confidence: confidence(choice.finish_reason.as_ref(), logprobs.as_deref()),
        usage: response.usage.map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }),
        sources: Vec::new(),
        fallback: false,
        latency_ms: elapsed_ms(started),
    })
}

pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl ChatModel for OpenAiProvider {
    async fn complete(&self, ctx: &ChatContext, reference: &[Passage]) -> Result<Reply, LlmError> {
        let started = Instant::now();
        let request = self.request(ctx, reference)?;
        let response = self.bounded(self.client.chat().create(request)).await?;
        reply_from(response, started)
    }

    async fn stream(
        &self,
        ctx: &ChatContext,
        reference: &[Passage],
        deltas: &DeltaSender,
    ) -> Result<Reply, LlmError> {
        let started = Instant::now();
        let mut request = self.request(ctx, reference)?;
        request.stream = Some(true);
        request.stream_options = Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        });
        // Boxed, so that the request's future (≈ 6 KB: the HTTP client's
        // and the retry layer's state) is freed once the stream is open
        // instead of sizing this future for as long as the reply streams.
        let mut stream = self
            .bounded(Box::pin(self.client.chat().create_stream(request)))
            .await?;
        let mut content = String::new();
        let mut model = self.model.clone();
        let mut usage = None;
        let mut finish = None;
        let mut logprobs: Vec<f32> = Vec::new();
        loop {
            let next = tokio::time::timeout(self.timeout, stream.next())
                .await
                .map_err(|_| LlmError::Timeout(self.timeout.as_secs()))?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(classify)?;
            if !chunk.model.is_empty() {
                model = chunk.model;
            }
            if let Some(u) = chunk.usage {
                usage = Some(Usage {
                    prompt_tokens: u.prompt_tokens,
                    completion_tokens: u.completion_tokens,
                });
            }
            for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
                if let Some(piece) = choice.delta.content.filter(|p| !p.is_empty()) {
                    content.push_str(&piece);
                    // A closed receiver means nobody listens any more; the
                    // reply is still completed and returned.
                    let _ = deltas.send(piece);
                }
                if let Some(lp) = choice.logprobs.and_then(|l| l.content) {
                    logprobs.extend(lp.iter().map(|t| t.logprob));
                }
                if choice.finish_reason.is_some() {
                    finish = choice.finish_reason;
                }
            }
        }
        if content.trim().is_empty() {
            return Err(LlmError::Malformed("empty reply".into()));
        }
        if finish.is_none() {
            return Err(LlmError::Malformed(
                "stream ended without a finish reason".into(),
            ));
        }
        Ok(Reply {
            content,
            model,
            confidence: confidence(finish.as_ref(), Some(&logprobs)),
            usage,
            sources: Vec::new(),
            fallback: false,
            latency_ms: elapsed_ms(started),
        })
    }

    async fn title(&self, first_message: &str) -> Result<Title, LlmError> {
        let request = CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: vec![
                ChatCompletionRequestSystemMessage {
                    content: super::titles::TITLE_PROMPT.into(),
                    name: None,
                }
                .into(),
                ChatCompletionRequestUserMessage {
                    content: first_message.to_owned().into(),
                    name: None,
                }
                .into(),
            ],
            max_completion_tokens: Some(20),
            ..Default::default()
        };
        let response = self.bounded(self.client.chat().create(request)).await?;
        let usage = response.usage.map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        });
        let raw = response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| LlmError::Malformed("no title".into()))?;
        let text = super::titles::clean_model_title(&raw)
            .ok_or_else(|| LlmError::Malformed("blank title".into()))?;
        Ok(Title { text, usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_uses_logprobs_when_present() {
        assert!((confidence(Some(&FinishReason::Stop), None) - CONFIDENCE_STOP).abs() < 1e-9);
        assert!(
            (confidence(Some(&FinishReason::Length), None) - CONFIDENCE_TRUNCATED).abs() < 1e-9
        );
        let c = confidence(Some(&FinishReason::Stop), Some(&[0.0, (0.5f32).ln()]));
        assert!((c - 0.75).abs() < 1e-6);
        let c = confidence(Some(&FinishReason::Length), Some(&[0.0]));
        assert!(c <= CONFIDENCE_TRUNCATED);
    }
}
