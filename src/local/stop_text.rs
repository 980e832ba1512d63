//! Stop texts (`stop` in a request) for the local provider: the answer ends before the first
//! occurrence of any of them, which may span several tokens, and none of it is ever streamed.

/// Streams text through, holding back only what could still turn into a stop text.
#[derive(Debug, Default)]
pub struct StopTexts {
    stops: Vec<String>,
    /// Text received but not yet released: a suffix that is a prefix of some stop text.
    held: String,
    /// Whether a stop text was seen; nothing more comes out after it.
    hit: bool,
}

/// What one piece of text turned into.
#[derive(Debug, PartialEq, Eq)]
pub struct Released {
    /// Text safe to stream now (possibly empty).
    pub text: String,
    /// A stop text was reached: generation should end.
    pub stop: bool,
}

impl StopTexts {
    /// A matcher for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
            hit: false,
        }
    }

    /// Whether a stop text was reached.
    pub fn hit(&self) -> bool {
        self.hit
    }

    /// Takes the next piece of the answer.
    pub fn push(&mut self, piece: &str) -> Released {
        if self.hit {
            return Released {
                text: String::new(),
                stop: true,
            };
        }
        if self.stops.is_empty() {
            return Released {
                text: piece.to_string(),
                stop: false,
            };
        }
        self.held.push_str(piece);
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s)).min() {
            self.hit = true;
            let text = self.held[..at].to_string();
            self.held.clear();
            return Released { text, stop: true };
        }
        let keep = self.longest_partial_suffix();
        let cut = self.held.len() - keep;
        let text = self.held[..cut].to_string();
        self.held.drain(..cut);
        Released { text, stop: false }
    }

    /// What is still held when the answer ends without a stop text.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length in bytes of the longest suffix of `held` that begins some stop text.
    fn longest_partial_suffix(&self) -> usize {
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let mut best = 0;
        for (start, _) in self.held.char_indices().rev() {
            let tail = &self.held[start..];
            if tail.len() >= longest {
                break;
            }
            if self.stops.iter().any(|s| s.starts_with(tail)) {
                best = tail.len();
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopTexts::new(&stops);
        let mut out = String::new();
        for p in pieces {
            let r = m.push(p);
            out.push_str(&r.text);
            if r.stop {
                return (out, true);
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn a_stop_text_split_across_pieces_ends_the_answer_before_it() {
        assert_eq!(
            run(&["END"], &["one two E", "N", "D three"]),
            ("one two ".into(), true)
        );
    }

    #[test]
    fn a_false_start_is_released_once_it_cannot_match() {
        assert_eq!(
            run(&["END"], &["EN", "x", " more"]),
            ("ENx more".into(), false)
        );
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        assert_eq!(
            run(&["\n\n", "Q:"], &["answer Q: then\n\nnext"]),
            ("answer ".into(), true)
        );
    }

    #[test]
    fn no_stops_streams_everything_at_once() {
        let mut m = StopTexts::new(&[]);
        assert_eq!(
            m.push("abc"),
            Released {
                text: "abc".into(),
                stop: false
            }
        );
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        assert_eq!(run(&["é!"], &["café", "é", "!"]), ("café".into(), true));
        assert_eq!(run(&["éx"], &["naïve é"]), ("naïve é".into(), false));
    }
}
