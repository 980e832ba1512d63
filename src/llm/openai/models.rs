//! The `/models` answer: OpenRouter's list (prices, context, input modalities) and the
//! subsets other servers send (llama.cpp's `n_ctx`, and its capabilities, which say whether a
//! model takes images).

use serde::Deserialize;

use crate::llm::ModelInfo;

/// OpenRouter's model list entry (other servers send a subset).
#[derive(Debug, Deserialize)]
struct WireModel {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    context_length: Option<u64>,
    #[serde(default)]
    pricing: Option<WirePricing>,
    #[serde(default)]
    architecture: Option<WireArchitecture>,
    /// llama.cpp's server: `n_ctx` is the window it was started with (it sends no
    /// `context_length`).
    #[serde(default)]
    meta: Option<WireMeta>,
}

#[derive(Debug, Deserialize)]
struct WireMeta {
    #[serde(default)]
    n_ctx: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct WireArchitecture {
    #[serde(default)]
    input_modalities: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct WirePricing {
    #[serde(default)]
    prompt: Option<serde_json::Value>,
    #[serde(default)]
    completion: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireModelList {
    data: Vec<WireModel>,
    /// llama.cpp's server also lists its models Ollama-style, with `capabilities`
    /// (`multimodal` when a vision projector is loaded).
    #[serde(default)]
    models: Vec<WireServerModel>,
}

/// An entry of llama.cpp's Ollama-style `models` list.
#[derive(Debug, Deserialize)]
struct WireServerModel {
    #[serde(default)]
    model: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    capabilities: Option<Vec<String>>,
}

fn price(v: &Option<serde_json::Value>) -> Option<f64> {
    match v.as_ref()? {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// The models as Rustbot knows them. A model without OpenRouter's modalities whose llama.cpp
/// entry lists capabilities takes images only when one of them is `multimodal`, so an image
/// for it is refused before sending instead of failing on the server.
pub(super) fn model_infos(list: WireModelList) -> Vec<ModelInfo> {
    let WireModelList { data, models } = list;
    data.into_iter()
        .map(|m| {
            let served = models.iter().find(|s| s.model == m.id || s.name == m.id);
            let modalities = m.architecture.and_then(|a| a.input_modalities).or_else(|| {
                let capabilities = served?.capabilities.as_ref()?;
                let mut modalities = vec!["text".to_string()];
                if capabilities
                    .iter()
                    .any(|c| c == "multimodal" || c == "vision")
                {
                    modalities.push("image".into());
                }
                Some(modalities)
            });
            ModelInfo {
                prompt_price_usd: m.pricing.as_ref().and_then(|p| price(&p.prompt)),
                completion_price_usd: m.pricing.as_ref().and_then(|p| price(&p.completion)),
                id: m.id,
                name: m.name,
                context_length: m.meta.and_then(|meta| meta.n_ctx).or(m.context_length),
                input_modalities: modalities,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What llama.cpp's server (b6xxx, SmolLM2 without a projector) answers, trimmed.
    const LLAMA_SERVER: &str = r#"{"models":[{"name":"SmolLM2-135M-Instruct","model":"SmolLM2-135M-Instruct","capabilities":["completion"]}],
        "object":"list","data":[{"id":"SmolLM2-135M-Instruct","object":"model","owned_by":"llamacpp","meta":{"n_ctx":4096,"n_ctx_train":8192}}]}"#;

    #[test]
    fn llama_cpp_capabilities_say_whether_a_model_takes_images() {
        let list: WireModelList = serde_json::from_str(LLAMA_SERVER).unwrap();
        let models = model_infos(list);
        assert_eq!(models[0].context_length, Some(4096));
        assert!(
            models[0].refuses_images(),
            "{:?}",
            models[0].input_modalities
        );
        let vision = LLAMA_SERVER.replace(r#"["completion"]"#, r#"["completion","multimodal"]"#);
        let models = model_infos(serde_json::from_str(&vision).unwrap());
        assert!(!models[0].refuses_images());
    }

    #[test]
    fn a_list_without_capabilities_says_nothing_about_images() {
        let list: WireModelList = serde_json::from_str(r#"{"data":[{"id":"gpt-x"}]}"#).unwrap();
        let models = model_infos(list);
        assert_eq!(models[0].input_modalities, None);
        assert!(!models[0].refuses_images());
    }
}
