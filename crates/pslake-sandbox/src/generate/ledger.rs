//! NetSuite's ledger as SuiteQL's `transaction` and `transactionline` tables (SPEC section 2).
//!
//! The generator thinks in billable lines ([`InvoiceLine`], [`ExpenseLine`]: one income or
//! expense line each); [`LedgerWriter`] writes each as a NetSuite transaction with its lines:
//!
//! - an invoice (`CustInvc`): the header (`entity` the job), a mainline (`id` 0, the gross
//!   receivable, positive), the income line (`id` 1, `foreignamount` the negated amount, `entity`
//!   the job on odd `uniquekey`s, empty on even ones so the job is only on the header) and, for
//!   GBP and EUR invoices, a taxline (`id` 2, the negated 20% VAT);
//! - an expense report (`ExpRept`): the header (`entity` the employee), a mainline (`id` 0, the
//!   negated total payable) and the expense line (`id` 1, `entity` the job, `foreignamount` the
//!   positive amount, `memo` the category).
//!
//! The income or expense line's `uniquekey` is the billable line's id, so ids stay stable; the
//! header's `id` is that number plus 10,000,000, the mainline's `uniquekey` plus 50,000,000 and
//! the taxline's plus 60,000,000.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Result;
use super::reference::ns_currency_id;
use super::writer::JsonlWriter;

const HEADER_OFFSET: u64 = 10_000_000;
const MAINLINE_OFFSET: u64 = 50_000_000;
const TAXLINE_OFFSET: u64 = 60_000_000;
/// The VAT rate of the taxline on GBP and EUR invoices.
const VAT: f64 = 0.20;

/// One invoice's income line, as the generator decides it.
pub(crate) struct InvoiceLine {
    /// The line's `uniquekey` (a number).
    pub(crate) id: String,
    pub(crate) tranid: String,
    /// `M/D/YYYY` (a bad row may carry something else).
    pub(crate) trandate: String,
    /// `A` open, `B` paid in full, `V` voided.
    pub(crate) status: String,
    pub(crate) job: String,
    /// The invoiced amount, positive, two decimals.
    pub(crate) amount: String,
    /// ISO code.
    pub(crate) currency: String,
    /// `M/D/YYYY`.
    pub(crate) lastmodifieddate: String,
}

/// One expense report's line, as the generator decides it.
pub(crate) struct ExpenseLine {
    /// The line's `uniquekey` (a number).
    pub(crate) id: String,
    pub(crate) trandate: String,
    /// The employee's NetSuite entity id.
    pub(crate) employee: String,
    pub(crate) job: String,
    pub(crate) category: String,
    /// The expense, positive, two decimals.
    pub(crate) amount: String,
    pub(crate) currency: String,
    pub(crate) lastmodifieddate: String,
}

#[derive(Serialize)]
struct NsTransaction<'a> {
    id: String,
    tranid: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    trandate: &'a str,
    entity: &'a str,
    status: &'a str,
    currency: String,
    lastmodifieddate: &'a str,
}

#[derive(Serialize)]
struct NsTransactionLine<'a> {
    uniquekey: String,
    id: &'a str,
    transaction: &'a str,
    mainline: &'a str,
    taxline: &'a str,
    entity: &'a str,
    foreignamount: String,
    memo: &'a str,
    linelastmodifieddate: &'a str,
}

/// The ids [`LedgerWriter`] wrote for one billable line.
pub(crate) struct Written {
    /// The header's `id`.
    pub(crate) transaction: String,
    /// Every line's `uniquekey`, the billable line's among them.
    pub(crate) lines: Vec<String>,
}

/// The NetSuite employee entity id of the `n`th employee (NetSuite numbers them apart from
/// Workday's `Employee_ID`).
pub(crate) fn employee_entity(n: usize) -> String {
    (5_001 + n).to_string()
}

fn negate(amount: &str) -> String {
    match amount.strip_prefix('-') {
        Some(pos) => pos.to_owned(),
        None => format!("-{amount}"),
    }
}

fn offset(id: &str, by: u64) -> String {
    id.parse::<u64>()
        .map_or_else(|_| format!("{by}{id}"), |n| (n + by).to_string())
}

/// Writes `netsuite/transaction.jsonl` and `netsuite/transactionline.jsonl`.
pub(crate) struct LedgerWriter {
    tran: JsonlWriter,
    line: JsonlWriter,
}

impl LedgerWriter {
    /// Creates (truncates) both files in fixture directory `dir`.
    pub(crate) fn create(dir: &Path) -> Result<Self> {
        Ok(Self {
            tran: JsonlWriter::create(dir, "netsuite", "transaction")?,
            line: JsonlWriter::create(dir, "netsuite", "transactionline")?,
        })
    }

    /// Opens both files in `dir` for appending.
    pub(crate) fn append(dir: &Path) -> Result<Self> {
        Ok(Self {
            tran: JsonlWriter::append(dir, "netsuite", "transaction")?,
            line: JsonlWriter::append(dir, "netsuite", "transactionline")?,
        })
    }

    /// Writes an invoice with `l` as its one income line.
    pub(crate) fn invoice(&mut self, l: &InvoiceLine) -> Result<Written> {
        let tran_id = offset(&l.id, HEADER_OFFSET);
        let currency = ns_currency_id(&l.currency);
        self.tran.write(&NsTransaction {
            id: tran_id.clone(),
            tranid: &l.tranid,
            kind: "CustInvc",
            trandate: &l.trandate,
            entity: &l.job,
            status: &l.status,
            currency,
            lastmodifieddate: &l.lastmodifieddate,
        })?;
        let amount: f64 = l.amount.parse().unwrap_or(0.0);
        let tax = if matches!(l.currency.as_str(), "GBP" | "EUR") {
            (amount * VAT * 100.0).round() / 100.0
        } else {
            0.0
        };
        let mainline = offset(&l.id, MAINLINE_OFFSET);
        let mut lines = vec![mainline.clone()];
        self.line.write(&NsTransactionLine {
            uniquekey: mainline,
            id: "0",
            transaction: &tran_id,
            mainline: "T",
            taxline: "F",
            entity: &l.job,
            foreignamount: format!("{:.2}", amount + tax),
            memo: "",
            linelastmodifieddate: &l.lastmodifieddate,
        })?;
        // odd uniquekeys carry the job on the line too; even ones only on the header
        let on_line = l.id.bytes().last().is_some_and(|b| (b - b'0') % 2 == 1);
        self.line.write(&NsTransactionLine {
            uniquekey: l.id.clone(),
            id: "1",
            transaction: &tran_id,
            mainline: "F",
            taxline: "F",
            entity: if on_line { &l.job } else { "" },
            foreignamount: negate(&l.amount),
            memo: "Professional services",
            linelastmodifieddate: &l.lastmodifieddate,
        })?;
        lines.push(l.id.clone());
        if tax != 0.0 {
            let taxkey = offset(&l.id, TAXLINE_OFFSET);
            self.line.write(&NsTransactionLine {
                uniquekey: taxkey.clone(),
                id: "2",
                transaction: &tran_id,
                mainline: "F",
                taxline: "T",
                entity: "",
                foreignamount: format!("{:.2}", -tax),
                memo: "VAT 20%",
                linelastmodifieddate: &l.lastmodifieddate,
            })?;
            lines.push(taxkey);
        }
        Ok(Written {
            transaction: tran_id,
            lines,
        })
    }

    /// Writes an expense report with `l` as its one expense line.
    pub(crate) fn expense(&mut self, l: &ExpenseLine) -> Result<Written> {
        let tran_id = offset(&l.id, HEADER_OFFSET);
        self.tran.write(&NsTransaction {
            id: tran_id.clone(),
            tranid: &format!("ER{}", l.id),
            kind: "ExpRept",
            trandate: &l.trandate,
            entity: &l.employee,
            status: "G",
            currency: ns_currency_id(&l.currency),
            lastmodifieddate: &l.lastmodifieddate,
        })?;
        let mainline = offset(&l.id, MAINLINE_OFFSET);
        self.line.write(&NsTransactionLine {
            uniquekey: mainline.clone(),
            id: "0",
            transaction: &tran_id,
            mainline: "T",
            taxline: "F",
            entity: &l.employee,
            foreignamount: negate(&l.amount),
            memo: "",
            linelastmodifieddate: &l.lastmodifieddate,
        })?;
        self.line.write(&NsTransactionLine {
            uniquekey: l.id.clone(),
            id: "1",
            transaction: &tran_id,
            mainline: "F",
            taxline: "F",
            entity: &l.job,
            foreignamount: l.amount.clone(),
            memo: &l.category,
            linelastmodifieddate: &l.lastmodifieddate,
        })?;
        Ok(Written {
            transaction: tran_id,
            lines: vec![mainline, l.id.clone()],
        })
    }

    /// Flushes both files: `[transaction, transactionline]` with their record counts.
    pub(crate) fn finish(self) -> Result<Vec<(PathBuf, u64)>> {
        Ok(vec![self.tran.finish()?, self.line.finish()?])
    }
}
