//! `rustbot serve`'s request body: `ChatCompletionRequest` from arbitrary bytes, then
//! `split_messages` as the handler does.
//!
//! Properties: no panic; a split keeps one history message per earlier message and fails
//! exactly when the messages are empty, the last is not the user's, a role is unknown or a
//! user's image part is not a data URL of a supported image; `prompt_images` agrees.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustbot::server::openai::{
    ChatCompletionRequest, MessagesError, prompt_images, split_messages,
};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<ChatCompletionRequest>(data) else {
        return;
    };
    let _ = request.stream_options.as_ref().map(|o| o.include_usage);
    match split_messages(&request.messages) {
        Ok((history, prompt)) => {
            assert_eq!(history.len() + 1, request.messages.len());
            let last = request.messages.last().unwrap();
            assert_eq!(last.role, "user");
            let expected = last.content.as_ref().map(|c| c.text()).unwrap_or_default();
            assert_eq!(prompt, expected);
        }
        Err(MessagesError::Empty) => assert!(request.messages.is_empty()),
        Err(MessagesError::LastNotUser) => {
            assert_ne!(request.messages.last().unwrap().role, "user")
        }
        Err(MessagesError::UnknownRole { index, role }) => {
            assert_eq!(request.messages[index].role, role);
        }
        Err(MessagesError::BadImage { index, .. }) => {
            let content = request.messages[index].content.as_ref().unwrap();
            assert!(content.images().is_err());
        }
    }
    if let Ok(images) = prompt_images(&request.messages) {
        for image in images {
            assert!(image.media_type.starts_with("image/"));
        }
    }
});
