//! A 90-day Saipos report over 30,000 sales: in-process aggregation time, and the number of
//! requests the client makes to a fake Saipos (the minimum the 15-day windows and the
//! 1000-row pages require). Run: `cargo bench -p platefull-tests --bench saipos_report`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use platefull::saipos::cache::{time_zone, today};
use platefull::saipos::client::{RateLimiter, SaiposClient, Settings};
use platefull::saipos::report::{aggregate, build};
use platefull_tests::bench::Latencies;
use platefull_tests::fake_saipos::{sale, sale_items, FakeSaipos, TOKEN};
use time::Duration as Days;

const DAYS: i64 = 90;
const SALES: i64 = 30_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let from = today("America/Sao_Paulo") - Days::days(DAYS + 1);
    let to = from + Days::days(DAYS - 1);
    let payments = ["Pix", "Crédito", "Débito", "Dinheiro", "Vale"];
    let partners = [Some("iFood"), None, Some("99 Food"), None, None];
    let menu = [
        "Pizza Calabresa",
        "Pizza Margherita",
        "Pizza Portuguesa",
        "Refrigerante 2L",
        "Suco",
        "Borda Catupiry",
        "Esfiha",
        "Brownie",
    ];
    let mut sales = Vec::with_capacity(SALES as usize);
    let mut items = Vec::with_capacity(SALES as usize);
    for i in 0..SALES {
        let day = (from + Days::days(i * DAYS / SALES)).to_string();
        let total = 30.0 + (i % 70) as f64 + 0.9;
        let pay = payments[(i % 5) as usize];
        sales.push(sale(
            i + 1,
            &day,
            total,
            i % 37 == 0,
            1 + i % 4,
            partners[(i % 5) as usize],
            &[(pay, total)],
        ));
        let a = menu[(i % 8) as usize];
        let b = menu[((i * 7 + 3) % 8) as usize];
        items.push(sale_items(
            i + 1,
            &day,
            &[(a, 1.0, total - 10.0, false), (b, 2.0, 5.0, i % 11 == 0)],
        ));
    }
    let fake = FakeSaipos::start(sales, items).await;
    let settings = Settings {
        limiter: Arc::new(RateLimiter::new(100_000, Duration::from_secs(1), 1_000)),
        // The fake listens on loopback, over http.
        policy: platefull::outbound::Policy::LocalStack,
        ..Settings::default()
    };
    let client = SaiposClient::new(&fake.url, TOKEN, settings);
    let started = Instant::now();
    let sales = client.search_sales(from, to).await.unwrap();
    let items = client.sales_items(from, to).await.unwrap();
    let fetch = started.elapsed();
    assert_eq!(sales.len() as i64, SALES);
    // 6 windows of ~5,000 sales: 6 pages each (5 full + 1 short), per endpoint.
    println!(
        "saipos requests for {DAYS} days / {SALES} sales: {} (fetch over loopback {:.0} ms)",
        client.requests(),
        fetch.as_secs_f64() * 1000.0
    );

    let mut samples = Vec::new();
    let mut orders = 0;
    for _ in 0..30 {
        let started = Instant::now();
        let mut days: Vec<_> = aggregate(&sales, &items, &time_zone("America/Sao_Paulo"))
            .into_iter()
            .collect();
        days.sort_by(|a, b| a.0.cmp(&b.0));
        let report = build(&from.to_string(), &to.to_string(), days);
        samples.push(started.elapsed());
        orders = report.totals.orders;
    }
    println!(
        "aggregate + build, {DAYS} days / {SALES} sales ({orders} not canceled): {}",
        Latencies::new(samples).summary()
    );
}
