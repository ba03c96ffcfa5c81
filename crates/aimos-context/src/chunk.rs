//! Cutting a document into chunks that each mean something on their own: functions, methods,
//! classes and types (by syntax, with tree-sitter) in code; sections in Markdown; windows of
//! lines elsewhere. Every chunk keeps its line range, so evidence can always say where it came
//! from.

use std::path::Path;

use tree_sitter::{Node, Parser};

/// Most lines in one chunk; a longer definition is split into its members, or into windows.
pub const MAX_CHUNK_LINES: u32 = 40;

/// Lines per window in text that has no structure aimos knows.
const WINDOW_LINES: u32 = 30;

/// The languages chunked by syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
    Markdown,
    Text,
}

impl Language {
    /// The language of a file, from its extension.
    pub fn of(path: &str) -> Language {
        let ext = Path::new(path)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "rs" => Language::Rust,
            "py" | "pyi" | "pyw" => Language::Python,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "go" => Language::Go,
            "java" => Language::Java,
            "md" | "markdown" | "mdx" | "rst" | "txt" | "adoc" => Language::Markdown,
            _ => Language::Text,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Language {
        use Language::*;
        [Rust, Python, JavaScript, TypeScript, Tsx, Go, Java, Markdown, Text]
            .get(code as usize)
            .copied()
            .unwrap_or(Text)
    }

    fn grammar(self) -> Option<tree_sitter::Language> {
        Some(match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
            Language::Java => tree_sitter_java::LANGUAGE.into(),
            Language::Markdown | Language::Text => return None,
        })
    }

    /// Separator between a container's name and a member's (`Stack::peek`, `Stack.peek`).
    fn separator(self) -> &'static str {
        if self == Language::Rust { "::" } else { "." }
    }
}

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// A function, method, class, type, … with its name in `symbol`.
    Definition,
    /// Code between definitions (imports, statements), grouped.
    Code,
    /// A Markdown section, named by its heading.
    Section,
    /// A window of lines.
    Lines,
}

impl ChunkKind {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> ChunkKind {
        match code {
            0 => ChunkKind::Definition,
            1 => ChunkKind::Code,
            2 => ChunkKind::Section,
            _ => ChunkKind::Lines,
        }
    }
}

/// A range of lines of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// First line, 1-based.
    pub start_line: u32,
    /// Last line, 1-based and inclusive.
    pub end_line: u32,
    pub kind: ChunkKind,
    /// The qualified name of a definition (`Stack::peek`) or a section's heading.
    pub symbol: Option<String>,
    /// A definition at the top level of its file (what a repository map lists).
    pub top_level: bool,
}

impl Chunk {
    pub fn contains_line(&self, line: u32) -> bool {
        (self.start_line..=self.end_line).contains(&line)
    }

    /// The last segment of the symbol (`peek` of `Stack::peek`).
    pub fn name(&self) -> Option<&str> {
        let symbol = self.symbol.as_deref()?;
        Some(symbol.rsplit(['.', ':']).next().unwrap_or(symbol))
    }
}

/// Cuts documents into chunks; keeps one parser per language between documents.
#[derive(Default)]
pub struct Chunker {
    parsers: Vec<(Language, Parser)>,
}

impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker").finish_non_exhaustive()
    }
}

impl Chunker {
    pub fn new() -> Chunker {
        Chunker::default()
    }

    /// The chunks of `text`, in line order. Code that fails to parse is still chunked
    /// (tree-sitter recovers from errors; if it returns nothing, by line windows).
    pub fn chunk(&mut self, language: Language, text: &str) -> Vec<Chunk> {
        let lines = line_count(text);
        if lines == 0 {
            return Vec::new();
        }
        let chunks = match language {
            Language::Markdown => markdown(text),
            Language::Text => windows(1, lines, ChunkKind::Lines, None, false),
            code => match self.parse(code, text) {
                Some(tree) => {
                    let mut out = Vec::new();
                    let source = Source { text: text.as_bytes(), language: code };
                    source.members(tree.root_node(), None, true, 0, &mut out);
                    out
                }
                None => windows(1, lines, ChunkKind::Lines, None, false),
            },
        };
        if chunks.is_empty() && !text.trim().is_empty() {
            return windows(1, lines, ChunkKind::Lines, None, false);
        }
        chunks
    }

    fn parse(&mut self, language: Language, text: &str) -> Option<tree_sitter::Tree> {
        let idx = match self.parsers.iter().position(|(l, _)| *l == language) {
            Some(idx) => idx,
            None => {
                let mut parser = Parser::new();
                parser.set_language(&language.grammar()?).ok()?;
                self.parsers.push((language, parser));
                self.parsers.len() - 1
            }
        };
        self.parsers[idx].1.parse(text, None)
    }
}

fn line_count(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let newlines = text.bytes().filter(|&b| b == b'\n').count() as u32;
    if text.ends_with('\n') { newlines } else { newlines + 1 }
}

/// Windows of at most [`WINDOW_LINES`] lines over `first..=last`.
fn windows(first: u32, last: u32, kind: ChunkKind, symbol: Option<&str>, top: bool) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut start = first;
    let size = if kind == ChunkKind::Lines { WINDOW_LINES } else { MAX_CHUNK_LINES };
    while start <= last {
        let end = (start + size - 1).min(last);
        out.push(Chunk {
            start_line: start,
            end_line: end,
            kind,
            symbol: symbol.map(str::to_owned),
            top_level: top && start == first,
        });
        start = end + 1;
    }
    out
}

/// Sections that start at headings; long sections split at blank lines.
fn markdown(text: &str) -> Vec<Chunk> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut heading: Option<String> = None;
    let mut in_fence = false;
    let flush = |out: &mut Vec<Chunk>, start: usize, end: usize, heading: &Option<String>| {
        if end < start || lines[start..=end].iter().all(|l| l.trim().is_empty()) {
            return;
        }
        // Split an overlong section at blank lines, each piece at most MAX_CHUNK_LINES.
        let mut piece = start;
        while piece <= end {
            let mut stop = (piece + MAX_CHUNK_LINES as usize - 1).min(end);
            if stop < end
                && let Some(blank) = (piece + 5..stop).rev().find(|&i| lines[i].trim().is_empty())
            {
                stop = blank;
            }
            out.push(Chunk {
                start_line: piece as u32 + 1,
                end_line: stop as u32 + 1,
                kind: ChunkKind::Section,
                symbol: heading.clone(),
                top_level: piece == start && heading.is_some(),
            });
            piece = stop + 1;
        }
    };
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        }
        if !in_fence && trimmed.starts_with('#') && i > 0 {
            let level = trimmed.bytes().take_while(|&b| b == b'#').count();
            if level <= 6 && trimmed[level..].starts_with(' ') {
                flush(&mut out, start, i - 1, &heading);
                start = i;
                heading = Some(trimmed[level..].trim().to_owned());
                continue;
            }
        }
        if i == 0 && trimmed.starts_with('#') {
            heading = Some(trimmed.trim_start_matches('#').trim().to_owned());
        }
    }
    if !lines.is_empty() {
        flush(&mut out, start, lines.len() - 1, &heading);
    }
    out
}

struct Source<'a> {
    text: &'a [u8],
    language: Language,
}

/// How a definition node is named, and whether its members are chunked on their own when it
/// is too long to be one chunk.
struct Definition {
    name: Option<String>,
    /// The node whose named children are the members (a class body, an impl's list).
    body: Option<usize>,
}

impl Source<'_> {
    fn text_of(&self, node: Node) -> String {
        node.utf8_text(self.text).unwrap_or_default().to_owned()
    }

    fn field(&self, node: Node, field: &str) -> Option<String> {
        node.child_by_field_name(field).map(|n| self.text_of(n))
    }

    /// The definition a node is, if it is one.
    fn definition(&self, node: Node) -> Option<Definition> {
        use Language::*;
        let kind = node.kind();
        let body_id = |node: Node| node.child_by_field_name("body").map(|b| b.id());
        let plain = |name: Option<String>| Some(Definition { name, body: None });
        match (self.language, kind) {
            // A long function is split at the functions defined inside it, if it has any.
            (Rust, "function_item") => {
                Some(Definition { name: self.field(node, "name"), body: body_id(node) })
            }
            (
                Rust,
                "function_signature_item"
                | "struct_item"
                | "enum_item"
                | "union_item"
                | "macro_definition"
                | "const_item"
                | "static_item"
                | "type_item",
            ) => plain(self.field(node, "name")),
            (Rust, "trait_item" | "mod_item") => {
                Some(Definition { name: self.field(node, "name"), body: body_id(node) })
            }
            (Rust, "impl_item") => {
                let ty = self.field(node, "type").map(|t| generic_base(&t));
                Some(Definition { name: ty, body: body_id(node) })
            }
            (Python, "function_definition") => {
                Some(Definition { name: self.field(node, "name"), body: body_id(node) })
            }
            (Python, "class_definition") => {
                Some(Definition { name: self.field(node, "name"), body: body_id(node) })
            }
            (Python, "decorated_definition") => {
                let inner = node.child_by_field_name("definition")?;
                let mut def = self.definition(inner)?;
                // The members live in the inner definition's body.
                def.body = if def.body.is_some() { body_id(inner) } else { None };
                Some(def)
            }
            (
                JavaScript | TypeScript | Tsx,
                "function_declaration" | "generator_function_declaration" | "method_definition",
            ) => Some(Definition { name: self.field(node, "name"), body: body_id(node) }),
            // `key: function () {…}` and `key: () => …` in an object literal.
            (JavaScript | TypeScript | Tsx, "pair") => {
                let value = node.child_by_field_name("value")?;
                matches!(value.kind(), "function_expression" | "function" | "arrow_function").then(
                    || Definition {
                        name: self.field(node, "key"),
                        body: value.child_by_field_name("body").map(|b| b.id()),
                    },
                )
            }
            // `module.exports = {…}` and `exports.rule = {…}`: the object's functions are members.
            (JavaScript | TypeScript | Tsx, "expression_statement") => {
                let assignment = node.named_child(0)?;
                if assignment.kind() != "assignment_expression" {
                    return None;
                }
                let value = assignment.child_by_field_name("right")?;
                (value.kind() == "object").then(|| Definition {
                    name: self.field(assignment, "left"),
                    body: Some(value.id()),
                })
            }
            (
                JavaScript | TypeScript | Tsx,
                "interface_declaration"
                | "type_alias_declaration"
                | "enum_declaration"
                | "function_signature"
                | "abstract_method_signature"
                | "method_signature",
            ) => plain(self.field(node, "name")),
            (
                JavaScript | TypeScript | Tsx,
                "class_declaration"
                | "abstract_class_declaration"
                | "class"
                | "internal_module"
                | "module",
            ) => Some(Definition { name: self.field(node, "name"), body: body_id(node) }),
            (JavaScript | TypeScript | Tsx, "lexical_declaration" | "variable_declaration") => {
                let declarator = node.named_child(0)?;
                let value = declarator.child_by_field_name("value")?;
                // Only `const f = () => …`, `const C = class …` and the like are definitions.
                matches!(
                    value.kind(),
                    "arrow_function"
                        | "function_expression"
                        | "function"
                        | "class"
                        | "generator_function"
                )
                .then(|| Definition { name: self.field(declarator, "name"), body: None })
            }
            (JavaScript | TypeScript | Tsx, "export_statement") => {
                let inner = node.child_by_field_name("declaration")?;
                let mut def = self.definition(inner)?;
                if def.body.is_some() {
                    def.body = body_id(inner);
                }
                Some(def)
            }
            (Go, "function_declaration") => plain(self.field(node, "name")),
            (Go, "method_declaration") => {
                let receiver = node
                    .child_by_field_name("receiver")
                    .map(|r| self.text_of(r))
                    .and_then(|r| go_receiver_type(&r));
                let name = self.field(node, "name");
                plain(match (receiver, name) {
                    (Some(ty), Some(name)) => Some(format!("{ty}.{name}")),
                    (_, name) => name,
                })
            }
            (Go, "type_declaration" | "const_declaration" | "var_declaration") => {
                let spec = node.named_child(0)?;
                plain(self.field(spec, "name"))
            }
            (
                Java,
                "class_declaration"
                | "interface_declaration"
                | "enum_declaration"
                | "record_declaration"
                | "annotation_type_declaration",
            ) => Some(Definition { name: self.field(node, "name"), body: body_id(node) }),
            (Java, "method_declaration" | "constructor_declaration") => {
                plain(self.field(node, "name"))
            }
            _ => None,
        }
    }

    /// Nodes that belong to the definition after them (doc comments, attributes).
    fn leads_into_next(&self, node: Node) -> bool {
        matches!(
            node.kind(),
            "line_comment" | "block_comment" | "comment" | "attribute_item" | "decorator"
        )
    }

    /// Chunks the named children of `node`: definitions on their own, the rest grouped.
    /// Children that end on or before line `covered` (1-based; a head chunk already quotes
    /// them, as a class's docstring) are left out.
    fn members(
        &self,
        node: Node,
        parent: Option<&str>,
        top: bool,
        covered: u32,
        out: &mut Vec<Chunk>,
    ) {
        let mut cursor = node.walk();
        let children: Vec<Node> =
            node.named_children(&mut cursor).filter(|c| end_row(*c) + 1 > covered).collect();
        // Lines (0-based rows) of loose material not yet emitted.
        let mut loose: Option<(u32, u32)> = None;
        // Where the doc comments and attributes before the next definition start.
        let mut lead: Option<u32> = None;
        let mut previous_end: Option<u32> = None;
        for child in children {
            let start = child.start_position().row as u32;
            let end = end_row(child);
            if let Some(def) = self.definition(child) {
                let first = lead.take().unwrap_or(start);
                if let Some((s, e)) = loose.take()
                    && e >= s
                {
                    self.loose_chunk(s, e.min(first.saturating_sub(1)), out);
                }
                let name = def.name.map(|n| match parent {
                    Some(parent) => format!("{parent}{}{n}", self.language.separator()),
                    None => n,
                });
                self.definition_chunks(child, first, end, name, def.body, top, out);
            } else if self.leads_into_next(child) {
                // A comment right after the previous line continues a lead; a gap restarts it.
                let continues = previous_end.is_some_and(|p| start <= p + 1) && lead.is_some();
                if !continues {
                    if let Some(l) = lead.take() {
                        loose = Some(extend(loose, l, start.saturating_sub(1)));
                    }
                    lead = Some(start);
                }
            } else {
                if let Some(l) = lead.take() {
                    loose = Some(extend(loose, l, start.saturating_sub(1)));
                }
                loose = Some(extend(loose, start, end));
                if let Some((s, e)) = loose
                    && e + 1 - s >= MAX_CHUNK_LINES
                {
                    self.loose_chunk(s, e, out);
                    loose = None;
                }
            }
            previous_end = Some(end);
        }
        if let Some(l) = lead {
            loose = Some(extend(loose, l, previous_end.unwrap_or(l)));
        }
        if let Some((s, e)) = loose {
            self.loose_chunk(s, e, out);
        }
    }

    fn loose_chunk(&self, start_row: u32, end_row: u32, out: &mut Vec<Chunk>) {
        if end_row < start_row {
            return;
        }
        out.extend(windows(start_row + 1, end_row + 1, ChunkKind::Code, None, false));
    }

    #[allow(clippy::too_many_arguments)]
    fn definition_chunks(
        &self,
        node: Node,
        first_row: u32,
        end_row: u32,
        name: Option<String>,
        body: Option<usize>,
        top: bool,
        out: &mut Vec<Chunk>,
    ) {
        let (first, last) = (first_row + 1, end_row + 1);
        if last + 1 - first <= MAX_CHUNK_LINES {
            out.push(Chunk {
                start_line: first,
                end_line: last,
                kind: ChunkKind::Definition,
                symbol: name,
                top_level: top,
            });
            return;
        }
        let body = body.and_then(|id| find_descendant(node, id));
        let has_members = body.is_some_and(|b| {
            let mut cursor = b.walk();
            b.named_children(&mut cursor).any(|c| self.definition(c).is_some())
        });
        match body {
            Some(body) if has_members => {
                // The head (signature, fields before the first member) as its own chunk, then
                // the members; the closing line is left to the last member's neighbour.
                let mut cursor = body.walk();
                let first_member = body
                    .named_children(&mut cursor)
                    .find(|c| self.definition(*c).is_some() || self.leads_into_next(*c))
                    .map(|c| c.start_position().row as u32 + 1)
                    .unwrap_or(last);
                let head_end = first_member.saturating_sub(1).max(first);
                for mut chunk in
                    windows(first, head_end, ChunkKind::Definition, name.as_deref(), top)
                {
                    chunk.top_level = top && chunk.start_line == first;
                    out.push(chunk);
                }
                self.members(body, name.as_deref(), false, head_end, out);
            }
            _ => out.extend(windows(first, last, ChunkKind::Definition, name.as_deref(), top)),
        }
    }
}

/// The last row a node covers; a node ending at column 0 ends on the row before.
fn end_row(node: Node) -> u32 {
    let end = node.end_position();
    let row = end.row as u32;
    if end.column == 0 && row > node.start_position().row as u32 { row - 1 } else { row }
}

fn extend(range: Option<(u32, u32)>, start: u32, end: u32) -> (u32, u32) {
    match range {
        Some((s, e)) => (s.min(start), e.max(end)),
        None => (start, end),
    }
}

/// The node `id` among `node`'s children and their children, down to three levels (a
/// function's body, an assignment's object, a pair's function's body).
fn find_descendant(node: Node, id: usize) -> Option<Node> {
    fn search(node: Node, id: usize, depth: u32) -> Option<Node> {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.children(&mut cursor).collect();
        children.iter().copied().find(|c| c.id() == id).or_else(|| {
            (depth > 1).then(|| children.into_iter().find_map(|c| search(c, id, depth - 1)))?
        })
    }
    search(node, id, 3)
}

/// `Stack<T>` → `Stack`.
fn generic_base(ty: &str) -> String {
    ty.split('<').next().unwrap_or(ty).trim().to_owned()
}

/// `(s *Server)` → `Server`.
fn go_receiver_type(receiver: &str) -> Option<String> {
    let inner = receiver.trim().trim_start_matches('(').trim_end_matches(')');
    let ty = inner.split_whitespace().last()?;
    Some(generic_base(ty.trim_start_matches('*')))
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Chunks `text` and compares one line per chunk (`first-last kind symbol`, `top` for a
    /// top-level definition) with `expected`.
    fn check(language: Language, text: &str, expected: Expect) {
        let shown: String = Chunker::new()
            .chunk(language, text)
            .into_iter()
            .map(|c| {
                format!(
                    "{}-{} {:?} {}{}\n",
                    c.start_line,
                    c.end_line,
                    c.kind,
                    c.symbol.as_deref().unwrap_or("-"),
                    if c.top_level { " top" } else { "" }
                )
            })
            .collect();
        expected.assert_eq(&shown);
    }

    #[test]
    fn rust_items_and_methods_with_their_doc_comments() {
        check(
            Language::Rust,
            "use std::fmt;\n\n/// A stack.\n#[derive(Debug)]\npub struct Stack<T> {\n    items: Vec<T>,\n}\n\nimpl<T> Stack<T> {\n    /// The top.\n    pub fn peek(&self) -> &T {\n        &self.items[self.items.len() - 1]\n    }\n}\n",
            expect![[r#"
                1-1 Code -
                3-7 Definition Stack top
                9-14 Definition Stack top
            "#]],
        );
        // A long impl is split into its methods, each named with its type.
        let methods: String = (0..12)
            .map(|i| {
                format!("    /// Doc {i}.\n    fn m{i}(&self) -> u32 {{\n        {i}\n    }}\n")
            })
            .collect();
        check(
            Language::Rust,
            &format!("impl Stack {{\n{methods}}}\n"),
            expect![[r#"
            1-1 Definition Stack top
            2-5 Definition Stack::m0
            6-9 Definition Stack::m1
            10-13 Definition Stack::m2
            14-17 Definition Stack::m3
            18-21 Definition Stack::m4
            22-25 Definition Stack::m5
            26-29 Definition Stack::m6
            30-33 Definition Stack::m7
            34-37 Definition Stack::m8
            38-41 Definition Stack::m9
            42-45 Definition Stack::m10
            46-49 Definition Stack::m11
        "#]],
        );
    }

    #[test]
    fn python_classes_methods_and_decorators() {
        let methods: String = (0..12)
            .map(|i| format!("    @property\n    def m{i}(self):\n        return {i}\n\n"))
            .collect();
        let text = format!(
            "import os\n\nclass Config:\n    \"\"\"Settings.\"\"\"\n\n{methods}\ndef main():\n    pass\n"
        );
        check(
            Language::Python,
            &text,
            expect![[r#"
            1-1 Code -
            3-5 Definition Config top
            6-8 Definition Config.m0
            10-12 Definition Config.m1
            14-16 Definition Config.m2
            18-20 Definition Config.m3
            22-24 Definition Config.m4
            26-28 Definition Config.m5
            30-32 Definition Config.m6
            34-36 Definition Config.m7
            38-40 Definition Config.m8
            42-44 Definition Config.m9
            46-48 Definition Config.m10
            50-52 Definition Config.m11
            55-56 Definition main top
        "#]],
        );
    }

    #[test]
    fn javascript_typescript_go_and_java_definitions_are_named() {
        check(
            Language::JavaScript,
            "const x = 1;\nexport function load(path) {\n  return path;\n}\nconst save = (p) => p;\nclass Store { get(k) { return k; } }\n",
            expect![[r#"
                1-1 Code -
                2-4 Definition load top
                5-5 Definition save top
                6-6 Definition Store top
            "#]],
        );
        check(
            Language::TypeScript,
            "interface Point { x: number }\nexport class Shape {\n  area(): number { return 0; }\n}\n",
            expect![[r#"
                1-1 Definition Point top
                2-4 Definition Shape top
            "#]],
        );
        check(
            Language::Go,
            "package main\n\ntype Server struct{}\n\nfunc (s *Server) Start() error {\n\treturn nil\n}\n\nfunc main() {}\n",
            expect![[r#"
                1-1 Code -
                3-3 Definition Server top
                5-7 Definition Server.Start top
                9-9 Definition main top
            "#]],
        );
        check(
            Language::Java,
            "package a;\n\npublic class Bank {\n  public int balance() { return 0; }\n}\n",
            expect![[r#"
                1-1 Code -
                3-5 Definition Bank top
            "#]],
        );
    }

    #[test]
    fn long_functions_split_at_the_functions_inside_them() {
        // A CommonJS module's object: its methods are members, and a long one is split at the
        // functions it defines.
        let helpers: String = (0..16)
            .map(|i| format!("        function check{i}(node) {{\n            return node.x{i};\n        }}\n"))
            .collect();
        check(
            Language::JavaScript,
            &format!(
                "module.exports = {{\n    meta: {{ type: \"problem\" }},\n    create(context) {{\n        const sourceCode = context.sourceCode;\n{helpers}        return {{}};\n    }}\n}};\n"
            ),
            expect![[r#"
                1-2 Definition module.exports top
                3-4 Definition module.exports.create
                5-7 Definition module.exports.create.check0
                8-10 Definition module.exports.create.check1
                11-13 Definition module.exports.create.check2
                14-16 Definition module.exports.create.check3
                17-19 Definition module.exports.create.check4
                20-22 Definition module.exports.create.check5
                23-25 Definition module.exports.create.check6
                26-28 Definition module.exports.create.check7
                29-31 Definition module.exports.create.check8
                32-34 Definition module.exports.create.check9
                35-37 Definition module.exports.create.check10
                38-40 Definition module.exports.create.check11
                41-43 Definition module.exports.create.check12
                44-46 Definition module.exports.create.check13
                47-49 Definition module.exports.create.check14
                50-52 Definition module.exports.create.check15
                53-53 Code -
            "#]],
        );
        // A long Python function with a nested one; one without stays whole windows.
        let body: String = (0..45).map(|i| format!("    x{i} = {i}\n")).collect();
        check(
            Language::Python,
            &format!("def outer():\n{body}    def inner():\n        return 1\n    return inner\n"),
            expect![[r#"
                1-40 Definition outer top
                41-46 Definition outer
                47-48 Definition outer.inner
                49-49 Code -
            "#]],
        );
    }

    #[test]
    fn markdown_sections_and_plain_windows() {
        check(
            Language::Markdown,
            "# Title\nintro\n\n## Install\nrun it\n\n```sh\n# not a heading\n```\n## Use\nmore\n",
            expect![[r#"
                1-3 Section Title top
                4-9 Section Install top
                10-11 Section Use top
            "#]],
        );
        let log: String = (0..70).map(|i| format!("line {i}\n")).collect();
        check(
            Language::Text,
            &log,
            expect![[r#"
            1-30 Lines -
            31-60 Lines -
            61-70 Lines -
        "#]],
        );
    }

    #[test]
    fn chunks_never_exceed_the_line_limit_and_stay_in_order() {
        let body: String = (0..200).map(|i| format!("    x{i} = {i}\n")).collect();
        let text = format!("def huge():\n{body}\n");
        let chunks = Chunker::new().chunk(Language::Python, &text);
        assert!(chunks.len() >= 5, "{chunks:?}");
        for pair in chunks.windows(2) {
            assert!(pair[0].end_line < pair[1].start_line, "{chunks:?}");
        }
        assert!(chunks.iter().all(|c| c.end_line + 1 - c.start_line <= MAX_CHUNK_LINES));
        assert!(chunks.iter().all(|c| c.symbol.as_deref() == Some("huge")));
    }
}
