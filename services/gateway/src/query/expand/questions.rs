//! Reading generated text back as a list of questions: one per line, without numbering or
//! bullets, none twice, none already known.

/// Up to `max` distinct questions from a generated list, one per line, without numbering or
/// bullets, leaving out any equal to one in `known` (case and spacing ignored).
pub fn question_lines(text: &str, max: usize, known: &[String]) -> Vec<String> {
    let normal = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let mut seen: Vec<String> = known.iter().map(|k| normal(k)).collect();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = strip_list_marker(line.trim());
        let line = line.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
        if line.chars().filter(|c| c.is_alphanumeric()).count() < 3 {
            continue;
        }
        let key = normal(line);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        out.push(line.to_string());
        if out.len() == max {
            break;
        }
    }
    out
}

/// `1. x`, `2) x`, `- x`, `* x`, `• x`, `Q: x`, `Question 2: x` → `x`.
fn strip_list_marker(line: &str) -> &str {
    let line = line.trim_start_matches(['-', '*', '•']).trim_start();
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let line = if digits > 0 {
        line[digits..]
            .trim_start_matches(['.', ')', ':'])
            .trim_start()
    } else {
        line
    };
    for prefix in ["Question", "question", "Q"] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
            if let Some(rest) = rest.strip_prefix(':') {
                return rest.trim_start();
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_and_bulleted_lines_become_questions() {
        let text = "1. Where is Quenby?\n2) What is eaten at the festival?\n- where is  quenby?\n\n* ok\nQuestion 3: When is it held?\nHow long is the river?";
        let known = vec!["How long is the river?".to_string()];
        assert_eq!(
            question_lines(text, 5, &known),
            [
                "Where is Quenby?",
                "What is eaten at the festival?",
                "When is it held?"
            ]
        );
        assert_eq!(question_lines(text, 1, &[]), ["Where is Quenby?"]);
        assert!(question_lines("", 3, &[]).is_empty());
    }
}
