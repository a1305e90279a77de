//! CSV cells for the export: quoted when needed, and free text defused against formula
//! injection (a cell starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`).

/// One CSV cell: quoted when needed; `text` cells are defused against formula injection.
pub fn cell(v: &str, text: bool) -> String {
    let defused = if text && v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("Ana", true), "Ana");
        assert_eq!(cell("Lee, Park", true), "\"Lee, Park\"");
        assert_eq!(cell("say \"hi\"", true), "\"say \"\"hi\"\"\"");
        assert_eq!(
            cell("=HYPERLINK(\"x\")", true),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(cell("@SUM(A1)", true), "'@SUM(A1)");
        // A phone number keeps its +.
        assert_eq!(cell("+15550100123", false), "+15550100123");
    }
}
