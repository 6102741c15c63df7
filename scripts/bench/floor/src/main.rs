//! The floor of `GET /api/v1/account` on this machine: the same HTTP server (actix-web, one
//! worker per core) and PostgreSQL driver (tokio-postgres, a connection set per worker) as the
//! brokerage server, one prepared primary-key read of an account per request, the row as
//! JSON, and nothing else: no authentication, middleware, logs or metrics. What it reaches
//! against the pgbench primary-key read is the most any server in this stack can reach on
//! the same cores (`docs/benchmarks.md`). Run by `scripts/bench/floor.sh`.
use actix_web::{App, HttpResponse, HttpServer, web};
use std::cell::{Cell, OnceCell};
use std::rc::Rc;
use tokio_postgres::{Client, NoTls, Statement};
use uuid::Uuid;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SQL: &str = "SELECT id, user_id, currency, cash::text, held::text, status, created_at::text FROM accounts WHERE id = $1";

struct Lane { clients: Vec<(Client, Statement)>, next: Cell<usize> }

thread_local! { static LANE: OnceCell<Rc<Lane>> = const { OnceCell::new() }; }

async fn lane(url: &str, n: usize) -> Rc<Lane> {
    if let Some(l) = LANE.with(|c| c.get().cloned()) { return l; }
    let mut clients = Vec::new();
    for _ in 0..n {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
        actix_web::rt::spawn(async move { let _ = conn.await; });
        let st = client.prepare(SQL).await.expect("prepare");
        clients.push((client, st));
    }
    let l = Rc::new(Lane { clients, next: Cell::new(0) });
    LANE.with(|c| { let _ = c.set(l.clone()); });
    LANE.with(|c| c.get().cloned()).unwrap()
}

struct Cfg { url: String, per_lane: usize, ids: Vec<Uuid>, rr: std::sync::atomic::AtomicUsize }

async fn account(cfg: web::Data<Cfg>, req: actix_web::HttpRequest) -> HttpResponse {
    let _auth = req.headers().get("authorization");
    let lane = lane(&cfg.url, cfg.per_lane).await;
    let i = lane.next.get(); lane.next.set((i + 1) % lane.clients.len());
    let (client, st) = &lane.clients[i];
    let k = cfg.rr.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % cfg.ids.len();
    let Ok(row) = client.query_one(st, &[&cfg.ids[k]]).await else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let body = serde_json::json!({
        "id": row.get::<_, Uuid>(0), "user_id": row.get::<_, Uuid>(1), "currency": row.get::<_, String>(2),
        "cash": row.get::<_, String>(3), "held": row.get::<_, String>(4), "status": row.get::<_, String>(5),
        "created_at": row.get::<_, String>(6), "positions": []
    });
    HttpResponse::Ok().content_type("application/json").body(body.to_string())
}

fn main() -> std::io::Result<()> {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(18484);
    let per_lane: usize = std::env::var("PER_LANE").ok().and_then(|p| p.parse().ok()).unwrap_or(15);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let ids: Vec<Uuid> = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        tokio::spawn(conn);
        client.query("SELECT id FROM accounts", &[]).await.expect("ids").iter().map(|r| r.get(0)).collect()
    });
    eprintln!("{} accounts", ids.len());
    let cfg = web::Data::new(Cfg { url, per_lane, ids, rr: Default::default() });
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || App::new().app_data(cfg.clone()).route("/api/v1/account", web::get().to(account)))
            .workers(2).bind(("127.0.0.1", port))?.run().await
    })
}
