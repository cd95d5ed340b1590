//! Builds extracted text one piece at a time, the same way for every format: runs of
//! whitespace inside a block become one space, block ends become a line break or a blank line
//! (a paragraph), and nothing leads or trails. Readers say what the document means (a new
//! paragraph, a line break, a tab) and this decides the characters. A builder made with
//! [`TextBuilder::with_limit`] stops growing at its bound and remembers that it overflowed,
//! so a reader can stop early and the file is refused instead of silently cut.

/// What separates the next text from the text before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Separator {
    #[default]
    None,
    Space,
    Line,
    Paragraph,
}

#[derive(Debug)]
pub struct TextBuilder {
    out: String,
    pending: Separator,
    limit: usize,
    overflowed: bool,
}

impl Default for TextBuilder {
    fn default() -> Self {
        TextBuilder::with_limit(usize::MAX)
    }
}

impl TextBuilder {
    pub fn new() -> TextBuilder {
        TextBuilder::default()
    }

    /// A builder that keeps at most `limit` bytes.
    pub fn with_limit(limit: usize) -> TextBuilder {
        TextBuilder {
            out: String::new(),
            pending: Separator::None,
            limit,
            overflowed: false,
        }
    }

    /// True once text past the limit was offered (and dropped).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Adds running text; whitespace in it separates words and is collapsed.
    pub fn push_text(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.separate(Separator::Space);
            } else {
                self.push_char(c);
            }
        }
    }

    /// A tab kept as a tab (a docx `w:tab`, a column gap).
    pub fn push_tab(&mut self) {
        self.push_char('\t');
    }

    /// The next text starts a new word even when no whitespace came in between.
    pub fn space(&mut self) {
        self.separate(Separator::Space);
    }

    /// The next text starts a new line.
    pub fn line_break(&mut self) {
        self.separate(Separator::Line);
    }

    /// The next text starts a new paragraph (after a blank line).
    pub fn paragraph_break(&mut self) {
        self.separate(Separator::Paragraph);
    }

    /// True when nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn separate(&mut self, separator: Separator) {
        self.pending = self.pending.max(separator);
    }

    fn push_char(&mut self, c: char) {
        if self.overflowed {
            return;
        }
        if !self.out.is_empty() {
            let separator = match self.pending {
                Separator::None => "",
                Separator::Space => " ",
                Separator::Line => "\n",
                Separator::Paragraph => "\n\n",
            };
            if self.out.len() + separator.len() + c.len_utf8() > self.limit {
                self.overflowed = true;
                return;
            }
            self.out.push_str(separator);
        } else if c.len_utf8() > self.limit {
            self.overflowed = true;
            return;
        }
        self.pending = Separator::None;
        self.out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_collapses_and_the_strongest_break_wins() {
        let mut b = TextBuilder::new();
        b.paragraph_break();
        b.push_text("  Hello \n\t world  ");
        b.line_break();
        b.paragraph_break();
        b.push_text("Next");
        b.line_break();
        b.push_text("line");
        b.push_tab();
        b.push_text("cell");
        b.space();
        b.line_break();
        assert_eq!(b.finish(), "Hello world\n\nNext\nline\tcell");
    }

    #[test]
    fn a_limited_builder_stops_at_its_bound_and_says_so() {
        let mut b = TextBuilder::with_limit(7);
        b.push_text("abc def");
        assert!(!b.overflowed());
        b.push_text("g");
        assert!(b.overflowed());
        assert_eq!(b.finish(), "abc def");
    }
}
