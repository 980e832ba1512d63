//! The engine's decision at the end of a model round, as a pure function of what the round
//! left behind: no network, no store, no clock. The shell (`event_loop.rs`) gathers the facts,
//! asks here, and carries the answer out (sends, writes, publishes), so the decision is tested
//! over a table of cases without any I/O.

use crate::llm::{FinishReason, LlmError};

/// What a finished round left behind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoundFacts<'a> {
    /// The round's error, if the stream failed.
    pub error: Option<&'a LlmError>,
    /// Why the model stopped, when it said.
    pub finish: Option<&'a FinishReason>,
    /// Whether any token arrived (an overflow after text cannot be resent unseen).
    pub first_token_seen: bool,
    /// Whether this run already compacted and resent once after an overflow.
    pub overflow_retried: bool,
    /// Whether the model asked for tools.
    pub tool_calls: bool,
    /// Whether tools are on for this engine.
    pub tools_on: bool,
}

/// What the run does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoundNext {
    /// The prompt was too long for the model and nothing was shown yet: learn the window,
    /// compact (or trim) and send once more, so the user sees one answer.
    ResendSmaller {
        /// The window the server said the model has, when it said.
        window: Option<u64>,
        /// The refused prompt's size in tokens, when it said.
        prompt_tokens: Option<u64>,
    },
    /// The run fails with this sentence.
    Fail(String),
    /// Run the tools the model asked for, then send the next round.
    RunTools,
    /// The answer is complete; the finish reason as events say it.
    Complete(String),
}

/// The decision at the end of a round.
pub(crate) fn after_round(facts: &RoundFacts<'_>) -> RoundNext {
    match facts.error {
        Some(LlmError::ContextLength {
            window,
            prompt_tokens,
            ..
        }) if !facts.first_token_seen && !facts.overflow_retried => RoundNext::ResendSmaller {
            window: *window,
            prompt_tokens: *prompt_tokens,
        },
        Some(error) => RoundNext::Fail(error.to_string()),
        None => match facts.finish {
            None => RoundNext::Fail(
                LlmError::Incomplete {
                    detail: "the answer ended without a finish signal".into(),
                }
                .to_string(),
            ),
            Some(_) if facts.tool_calls && facts.tools_on => RoundNext::RunTools,
            Some(reason) => RoundNext::Complete(reason.as_str().to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overflow() -> LlmError {
        LlmError::ContextLength {
            detail: "too long".into(),
            window: Some(1024),
            prompt_tokens: Some(1500),
        }
    }

    fn cut() -> LlmError {
        LlmError::Incomplete {
            detail: "cut off".into(),
        }
    }

    #[test]
    fn every_end_of_a_round_has_one_next_step() {
        let (overflow, cut) = (overflow(), cut());
        let (stop, calls) = (FinishReason::Stop, FinishReason::ToolCalls);
        let base = RoundFacts {
            error: None,
            finish: Some(&stop),
            first_token_seen: true,
            overflow_retried: false,
            tool_calls: false,
            tools_on: true,
        };
        // (facts, expected)
        let table: Vec<(RoundFacts<'_>, RoundNext)> = vec![
            (base, RoundNext::Complete("stop".into())),
            (
                RoundFacts {
                    finish: Some(&calls),
                    tool_calls: true,
                    ..base
                },
                RoundNext::RunTools,
            ),
            (
                // Tools off: the calls cannot run, the answer ends as it is.
                RoundFacts {
                    finish: Some(&calls),
                    tool_calls: true,
                    tools_on: false,
                    ..base
                },
                RoundNext::Complete("tool_calls".into()),
            ),
            (
                RoundFacts {
                    error: Some(&overflow),
                    finish: None,
                    first_token_seen: false,
                    ..base
                },
                RoundNext::ResendSmaller {
                    window: Some(1024),
                    prompt_tokens: Some(1500),
                },
            ),
            (
                // Once per run: a second overflow fails.
                RoundFacts {
                    error: Some(&overflow),
                    finish: None,
                    first_token_seen: false,
                    overflow_retried: true,
                    ..base
                },
                RoundNext::Fail(overflow.to_string()),
            ),
            (
                // Text was already shown: no silent resend.
                RoundFacts {
                    error: Some(&overflow),
                    finish: None,
                    ..base
                },
                RoundNext::Fail(overflow.to_string()),
            ),
            (
                RoundFacts {
                    error: Some(&cut),
                    tool_calls: true,
                    ..base
                },
                RoundNext::Fail(cut.to_string()),
            ),
            (
                RoundFacts {
                    finish: None,
                    ..base
                },
                RoundNext::Fail(
                    LlmError::Incomplete {
                        detail: "the answer ended without a finish signal".into(),
                    }
                    .to_string(),
                ),
            ),
        ];
        for (facts, expected) in table {
            assert_eq!(after_round(&facts), expected, "{facts:?}");
        }
    }
}
