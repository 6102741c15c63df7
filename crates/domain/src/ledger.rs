//! The double-entry view of the activity ledger.
//!
//! Every activity is one balanced journal entry: for each asset (cash, or the shares of one
//! symbol) its postings sum to zero. Three kinds of ledger account take part:
//! - a customer's account (its cash, and its shares of each symbol);
//! - the house: the brokerage's own cash (what it received for shares it delivered, and
//!   fees) and its inventory of shares (negative: shares it delivered to customers);
//! - the outside world: where deposits come from and withdrawals go.
//!
//! From that follow the conservation laws the invariant checker verifies over a whole
//! database: the cash of customers and house together equals deposits − withdrawals, and for
//! every symbol the shares of customers and house together are zero.

use crate::accounts::{Account, Activity, ActivityKind};
use crate::ids::{AccountId, OrderId};
use crate::market::Symbol;
use crate::orders::booking::Execution;
use crate::orders::{Order, Side};
use crate::positions::Position;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LedgerAccount {
    Customer(AccountId),
    House,
    External,
}

impl LedgerAccount {
    /// As stored: `customer`, `house`, `external`.
    pub const fn book(&self) -> &'static str {
        match self {
            LedgerAccount::Customer(_) => "customer",
            LedgerAccount::House => "house",
            LedgerAccount::External => "external",
        }
    }

    pub fn customer(&self) -> Option<AccountId> {
        match self {
            LedgerAccount::Customer(id) => Some(*id),
            _ => None,
        }
    }
}

/// What a posting moves: cash (`USD`) or shares of a symbol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Asset {
    Cash,
    Shares(Symbol),
}

impl Asset {
    /// As stored: `USD` or the symbol.
    pub fn code(&self) -> &str {
        match self {
            Asset::Cash => "USD",
            Asset::Shares(s) => s.as_str(),
        }
    }
}

/// One line of a journal entry: `amount` (cash, or shares) added to `account`'s `asset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: LedgerAccount,
    pub asset: Asset,
    pub amount: Decimal,
}

/// The journal entry of an activity.
pub fn postings(activity: &Activity) -> Vec<Posting> {
    let customer = LedgerAccount::Customer(activity.account_id);
    let cash = activity.amount.get();
    let post = |account, asset, amount| Posting { account, asset, amount };
    let counterparty = match activity.kind {
        ActivityKind::Deposit | ActivityKind::Withdrawal => LedgerAccount::External,
        ActivityKind::Fill | ActivityKind::Fee => LedgerAccount::House,
    };
    let mut lines = vec![post(customer, Asset::Cash, cash), post(counterparty, Asset::Cash, -cash)];
    if let (ActivityKind::Fill, Some(trade)) = (activity.kind, &activity.trade) {
        let shares = match trade.side {
            Side::Buy => trade.qty.get(),
            Side::Sell => -trade.qty.get(),
        };
        let asset = Asset::Shares(trade.symbol.clone());
        lines.push(post(customer, asset.clone(), shares));
        lines.push(post(LedgerAccount::House, asset, -shares));
    }
    lines
}

/// True when, for every asset, the postings sum to zero.
pub fn is_balanced(lines: &[Posting]) -> bool {
    let mut sums: BTreeMap<&Asset, Decimal> = BTreeMap::new();
    for line in lines {
        *sums.entry(&line.asset).or_default() += line.amount;
    }
    sums.values().all(Decimal::is_zero)
}

/// Balances per ledger account and asset, summed over journal entries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Balances(BTreeMap<(LedgerAccount, Asset), Decimal>);

impl Balances {
    pub fn post_all<'a>(&mut self, activities: impl IntoIterator<Item = &'a Activity>) {
        for activity in activities {
            for line in postings(activity) {
                *self.0.entry((line.account, line.asset)).or_default() += line.amount;
            }
        }
    }

    pub fn get(&self, account: LedgerAccount, asset: &Asset) -> Decimal {
        self.0.get(&(account, asset.clone())).copied().unwrap_or_default()
    }

    /// Every (account, asset) with a non-zero balance.
    pub fn iter(&self) -> impl Iterator<Item = (&LedgerAccount, &Asset, Decimal)> {
        self.0.iter().filter(|(_, v)| !v.is_zero()).map(|((a, s), v)| (a, s, *v))
    }
}

/// Everything the invariants speak about, as one consistent snapshot.
pub struct Snapshot<'a> {
    pub accounts: &'a [Account],
    pub positions: &'a [Position],
    pub orders: &'a [Order],
    pub activities: &'a [Activity],
    pub executions: &'a [Execution],
}

/// Checks the book's invariants over a snapshot and describes every violation (none when
/// the book is sound): each entry balanced; each account's cash equal to its ledger and
/// its holds equal to what its open buys hold; each position equal to its ledger, its lots
/// and its open sells; cash and shares conserved; fills within quantities and counted once.
pub fn audit(snap: &Snapshot<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut balances = Balances::default();
    for activity in snap.activities {
        if !is_balanced(&postings(activity)) {
            problems.push(format!("activity {} is not a balanced entry", activity.id));
        }
    }
    balances.post_all(snap.activities);

    let mut open_buy_holds: BTreeMap<AccountId, Decimal> = BTreeMap::new();
    let mut open_sell_qty: BTreeMap<(AccountId, &Symbol), Decimal> = BTreeMap::new();
    let mut fills: BTreeMap<OrderId, Vec<&Execution>> = BTreeMap::new();
    for e in snap.executions {
        fills.entry(e.order_id).or_default().push(e);
    }
    for o in snap.orders {
        if o.filled_qty < Decimal::ZERO || o.filled_qty > o.qty.get() {
            problems.push(format!("order {} filled {} of {}", o.id, o.filled_qty, o.qty));
        }
        let mine = fills.remove(&o.id).unwrap_or_default();
        let filled: Decimal = mine.iter().map(|e| e.qty.get()).sum();
        if filled != o.filled_qty || mine.len() != o.fill_seq as usize {
            problems.push(format!(
                "order {} says {} filled in {} fills; its fills say {} in {}",
                o.id,
                o.filled_qty,
                o.fill_seq,
                filled,
                mine.len()
            ));
        }
        if o.status.is_open() {
            match o.side {
                Side::Buy => *open_buy_holds.entry(o.account_id).or_default() += o.held_cash.get(),
                Side::Sell => *open_sell_qty.entry((o.account_id, &o.symbol)).or_default() += o.remaining_qty(),
            }
        } else if o.held_cash != crate::values::Money::ZERO {
            problems.push(format!("closed order {} still holds {}", o.id, o.held_cash));
        }
    }
    for order_id in fills.keys() {
        problems.push(format!("fills of an unknown order {order_id}"));
    }

    for a in snap.accounts {
        let ledger = balances.get(LedgerAccount::Customer(a.id), &Asset::Cash);
        if ledger != a.cash.get() {
            problems.push(format!("account {} holds cash {} but its ledger says {}", a.id, a.cash, ledger));
        }
        if a.cash.is_negative() || a.held.is_negative() || a.held > a.cash {
            problems.push(format!("account {} has cash {} and held {}", a.id, a.cash, a.held));
        }
        let holds = open_buy_holds.get(&a.id).copied().unwrap_or_default();
        if holds != a.held.get() {
            problems.push(format!("account {} holds {} but its open buys hold {}", a.id, a.held, holds));
        }
    }

    let mut stored: BTreeMap<(AccountId, &Symbol), &Position> = BTreeMap::new();
    for p in snap.positions {
        stored.insert((p.account_id, &p.symbol), p);
        let lots_qty: Decimal = p.lots.iter().map(|l| l.qty).sum();
        let lots_cost: Decimal = p.lots.iter().map(|l| l.cost.get()).sum();
        if p.qty <= Decimal::ZERO || p.held < Decimal::ZERO || p.held > p.qty {
            problems.push(format!("position {}/{} has qty {} and held {}", p.account_id, p.symbol, p.qty, p.held));
        }
        if lots_qty != p.qty || lots_cost != p.cost_basis.get() {
            problems.push(format!("position {}/{} disagrees with its lots", p.account_id, p.symbol));
        }
        let selling = open_sell_qty.get(&(p.account_id, &p.symbol)).copied().unwrap_or_default();
        if selling != p.held {
            problems.push(format!(
                "position {}/{} holds {} but open sells need {}",
                p.account_id, p.symbol, p.held, selling
            ));
        }
    }
    let mut house_cash = Decimal::ZERO;
    let mut per_symbol: BTreeMap<&Asset, Decimal> = BTreeMap::new();
    for (account, asset, amount) in balances.iter() {
        match (account, asset) {
            (LedgerAccount::External, Asset::Cash) => house_cash += amount,
            (LedgerAccount::External, Asset::Shares(s)) => problems.push(format!("shares of {s} left the system")),
            (_, Asset::Cash) => house_cash += amount,
            (_, shares @ Asset::Shares(_)) => *per_symbol.entry(shares).or_default() += amount,
        }
        if let (LedgerAccount::Customer(id), Asset::Shares(symbol)) = (account, asset) {
            let qty = stored.get(&(*id, symbol)).map_or(Decimal::ZERO, |p| p.qty);
            if qty != amount {
                problems.push(format!("position {id}/{symbol} is {qty} but its ledger says {amount}"));
            }
        }
    }
    if !house_cash.is_zero() {
        problems.push(format!("cash is not conserved: customers + house − (deposits − withdrawals) = {house_cash}"));
    }
    for (asset, total) in per_symbol {
        if !total.is_zero() {
            problems.push(format!("shares of {} are not conserved: {total}", asset.code()));
        }
    }
    for p in snap.positions {
        let ledger = balances.get(LedgerAccount::Customer(p.account_id), &Asset::Shares(p.symbol.clone()));
        if ledger.is_zero() {
            problems.push(format!("position {}/{} has no ledger entries", p.account_id, p.symbol));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::TradeDetails;
    use crate::ids::{ActivityId, OrderId};
    use crate::values::{Amount, Money, Price, Quantity};
    use chrono::Utc;
    use std::str::FromStr;
    use uuid::Uuid;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn every_kind_of_activity_is_a_balanced_entry_and_shares_never_leave_the_house_system() {
        let account = AccountId::from_uuid(Uuid::now_v7());
        let id = || ActivityId::from_uuid(Uuid::now_v7());
        let trade = |side| TradeDetails {
            order_id: OrderId::from_uuid(Uuid::now_v7()),
            symbol: Symbol::parse("AAPL").expect("valid"),
            side,
            qty: Quantity::new(d("2")).expect("valid"),
            price: Price::new(d("10")).expect("valid"),
            realized_pl: None,
        };
        let deposit = Activity::deposit(id(), account, Amount::new(d("100")).expect("valid"), Utc::now());
        let mut buy = deposit.clone();
        buy.kind = ActivityKind::Fill;
        buy.amount = Money::new(d("-20")).expect("valid");
        buy.trade = Some(trade(Side::Buy));
        let fee = Activity::fee(id(), account, Money::new(d("1")).expect("valid"), trade(Side::Buy), Utc::now());
        let all = [deposit, buy, fee];
        for a in &all {
            assert!(is_balanced(&postings(a)), "{a:?}");
        }
        let mut balances = Balances::default();
        balances.post_all(&all);
        let aapl = Asset::Shares(Symbol::parse("AAPL").expect("valid"));
        assert_eq!(balances.get(LedgerAccount::Customer(account), &Asset::Cash), d("79"));
        assert_eq!(balances.get(LedgerAccount::House, &Asset::Cash), d("21"));
        assert_eq!(balances.get(LedgerAccount::External, &Asset::Cash), d("-100"));
        assert_eq!(balances.get(LedgerAccount::Customer(account), &aapl), d("2"));
        assert_eq!(balances.get(LedgerAccount::House, &aapl), d("-2"));
    }
}
