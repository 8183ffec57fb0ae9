//! Splitting a `.sql` file into its statements with DataFusion's own
//! tokenizer and parser (never by splitting on `;`), as `saasql run` does.

use saasql::datafusion::common::{DataFusionError, Result};
use saasql::datafusion::sql::parser::DFParserBuilder;
use saasql::datafusion::sql::sqlparser::dialect::GenericDialect;
use saasql::datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

/// The text of each statement of `sql`, without the `;` between them and
/// without comments before a statement. A syntax error names its line.
pub fn statements(sql: &str) -> Result<Vec<String>> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| DataFusionError::Plan(format!("SQL error: {e}")))?;
    let mut parser = DFParserBuilder::new(tokens)
        .with_dialect(&dialect)
        .build()?;
    let chars: Vec<char> = sql.chars().collect();
    // The index in `chars` where each line starts.
    let mut line_starts = vec![0];
    line_starts.extend(
        chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '\n')
            .map(|(i, _)| i + 1),
    );
    let offset = |l: Location| -> usize {
        let line = (l.line.max(1) - 1) as usize;
        let start = line_starts.get(line).copied().unwrap_or(chars.len());
        (start + l.column.max(1) as usize - 1).min(chars.len())
    };
    let mut out = vec![];
    loop {
        while parser.parser.consume_token(&Token::SemiColon) {}
        let start = parser.parser.peek_token_ref().clone();
        if start.token == Token::EOF {
            break;
        }
        parser.parse_statement()?;
        let end = parser.parser.get_current_token().span.end;
        let next = parser.parser.peek_token_ref();
        if next.token != Token::EOF && next.token != Token::SemiColon {
            return Err(DataFusionError::Plan(format!(
                "SQL error: expected ';' after the statement on line {}, found {} on line {}",
                start.span.start.line, next.token, next.span.start.line
            )));
        }
        let (from, to) = (offset(start.span.start), offset(end));
        out.push(chars[from..to.max(from)].iter().collect());
    }
    Ok(out)
}
