/*
 * Kafka sink (Flink's KafkaSink) over librdkafka: none, at-least-once, exactly-once.
 *
 * none and at-least-once use one idempotence-free producer per subtask. none never waits;
 * at-least-once flushes in the snapshot, so checkpoint n does not complete before every
 * record before barrier n is acknowledged (a delivery error fails the task).
 *
 * Exactly-once: two-phase commit with Kafka transactions, one per checkpoint and subtask.
 * The records between barriers n-1 and n go in transaction n on one of the subtask's
 * transactional producers (a slot: transactional.id "<prefix>-<subtask>-<slot>"), and a
 * transaction of one subtask goes through these states (struct txn, txn_state_str):
 *
 *   FREE ──(a record: begin_transaction)──▶ OPEN        records are produced into it
 *   OPEN ──(snapshot of n: flush, wait for every delivery report)──▶ PRECOMMITTED(n)
 *   OPEN ──(end of input: flush)──▶ PRECOMMITTED(0), given the id of the next snapshot
 *   PRECOMMITTED(n) ──(checkpoint_complete(n' >= n): commit_transaction)──▶ FREE
 *
 * A producer has one transaction at a time, so while transaction n waits for checkpoint n
 * to complete, n+1 fills on another slot. With one checkpoint in flight (the default), two
 * slots are in use at most: the coordinator triggers n+1 only once n has settled, and the
 * notification of n reaches the sink's worker before barrier n+1 does unless the worker is
 * slow to pick it up. A checkpoint that fails leaves its transaction PRECOMMITTED until a
 * later one completes and commits both; WEIR_KAFKA_SINK_PRODUCERS (4) slots allow three
 * such in a row (or three checkpoints in flight), and a subtask that would need a fifth
 * fails, so the job restarts from its latest checkpoint, which resolves them all.
 *
 * The hard part: librdkafka (2.0) cannot resume or commit another producer's transaction
 * (Flink's Java sink resumes it by producer id and epoch), and init_transactions with the
 * same transactional.id aborts the open one. A process killed after checkpoint n's
 * _metadata is durable but before transaction n committed would, restored from n, lose
 * transaction n's records: the sources are already past them. So transaction n's records
 * are also kept in the subtask's memory and written into its state in checkpoint n (and in
 * every later checkpoint taken while it is still uncommitted), with the partition and
 * offset of the first record the broker acknowledged (its delivery report). Restore from
 * checkpoint c then:
 *   1. open (all subtasks, before any restore) runs init_transactions on every slot's id:
 *      a transaction of a dead producer is aborted (or its commit, if the coordinator had
 *      logged it, completed), which also unblocks read_committed consumers of its partitions
 *      (the pitfall: a killed producer blocks them until its id is initialised).
 *   2. for each PRECOMMITTED transaction the state lists (all belong to checkpoints <= c):
 *      a read_committed consumer reads that partition at that offset. If the record there
 *      is ours (offset and value as kept), the transaction committed before the crash:
 *      nothing to do. If read_committed skips past it, it was aborted: its records are sent
 *      again, first in the restored run's first transaction, which commits with that run's
 *      first checkpoint like any other. Not at once: a run killed again before that
 *      checkpoint completes is restored from c again, where the probe finds the records
 *      aborted at their first offsets and sends them once more (CI saw that duplicate);
 *      in the next transaction the second send is aborted with it. (An end of the partition below
 * the offset means the last stable offset is not past it yet: the read waits, up to 60 s.
 *      kafka_sink_kept.c has the read and the kept records' layout.)
 *   3. everything after c is in no listed transaction and was aborted by step 1; the
 *      sources replay it.
 * At another parallelism p (list state, UNION): new subtask k takes the transactions of the
 * old subtasks i with i % p == k and, before step 2, initialises the ids of those i >= p (no
 * subtask of this run opens them: what they left open would block read_committed readers
 * until transaction.timeout.ms); the ids of those i < p are its own, settled by step 1.
 * The cost: a checkpoint interval of output held in memory and stored in each checkpoint.
 * The alternatives were worse: committing before _metadata is durable duplicates on a failed
 * checkpoint, and a marker file written after the commit cannot be atomic with it.
 *
 * Kafka's own pitfalls (issue 11): abort purges queued records, so a transaction is flushed
 * before it is aborted; transaction.timeout.ms above the broker's transaction.max.timeout.ms
 * is fatal at init_transactions, which open runs, failing with one line naming the key; a
 * commit that fails fails the task (the restore above then decides, from the broker, what
 * the commit did).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>

#include <weir/job.h>
#include <weir/kafka.h>
#include <weir/metrics.h>
#include <weir/state.h>

#include "connectors_private.h"

#define NSLOTS            WEIR_KAFKA_SINK_PRODUCERS
#define INIT_TIMEOUT_MS   60000
#define COMMIT_TIMEOUT_MS 120000

struct ks_args {
    struct weir_kafka_sink_opts o; /* strings below are copies */
    char **props;                  /* name, value, ..., NULL */
};

enum txn_state { TXN_FREE, TXN_OPEN, TXN_PRECOMMITTED };

/* One slot: a transactional producer and the transaction it holds. */
struct txn {
    struct ks_sink *s;
    int slot;
    rd_kafka_t *rk;
    enum txn_state state;
    uint64_t chk;         /* PRECOMMITTED: the checkpoint that pre-committed it, 0: end of input */
    struct kept_buf recs; /* its records, as kept in checkpoints (put_rec) */
    uint64_t n_recs;
    int32_t probe_part; /* the first acknowledged record: partition, offset, */
    int64_t probe_off;  /* and where it is in recs; probe_off -1: none yet */
    uint64_t probe_at;
};

struct ks_sink {
    const struct ks_args *a;
    weir_ctx *ctx;
    int subtask;
    rd_kafka_t *rk;             /* none, at-least-once */
    struct txn txns[NSLOTS];    /* exactly-once */
    struct txn *open;           /* the OPEN one, NULL when none */
    rd_kafka_resp_err_t dr_err; /* first failed delivery (sticky) */
    char dr_errstr[256];
    uint64_t since_poll;
    _Atomic uint64_t records_out, commits, aborts;
};

__attribute__((unused)) static const char *txn_state_str(const struct txn *t)
{
    static const char *const n[] = {"free", "open", "precommitted"};
    return n[t->state];
}

/* The invariants of the table at the top. */
static bool ks_check_state(const struct ks_sink *s)
{
    int open = 0;
    for (int i = 0; i < NSLOTS; i++) {
        const struct txn *t = &s->txns[i];
        if (t->state == TXN_OPEN && (++open > 1 || s->open != t))
            return false;
        if (t->state == TXN_FREE && t->n_recs)
            return false;
        if (t->state == TXN_PRECOMMITTED && t->n_recs && t->probe_off < 0)
            return false;
    }
    return open == 1 || !s->open;
}

static bool exactly_once(const struct ks_sink *s)
{
    return s->a->o.delivery_guarantee == WEIR_KAFKA_EXACTLY_ONCE;
}

/* --- producers ------------------------------------------------------------ */

/* Delivery reports run on the sink's worker, inside rd_kafka_poll / rd_kafka_flush. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct txn *t = opaque;
    struct ks_sink *s = t->s;
    if (m->err) {
        if (!s->dr_err) {
            s->dr_err = m->err;
            snprintf(s->dr_errstr, sizeof s->dr_errstr, "%s [%" PRId32 "] failed: %s",
                     rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
        }
        return;
    }
    if (t->probe_off < 0 && t->state == TXN_OPEN) {
        t->probe_part = m->partition;
        t->probe_off = m->offset;
        t->probe_at = (uint64_t)(uintptr_t)m->_private;
    }
}

/* A producer for t (transactional when tid is not NULL). */
static int new_producer(struct ks_sink *s, struct txn *t, const char *tid, rd_kafka_t **out)
{
    const struct weir_kafka_sink_opts *o = &s->a->o;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512], v[32];
    int rc = kafka_set_prop(s->ctx, conf, "bootstrap.servers", o->bootstrap);
    for (char **p = s->a->props; rc == 0 && p && *p; p += 2) {
        const char *k = strncmp(p[0], "properties.", 11) == 0 ? p[0] + 11 : p[0];
        rc = kafka_set_prop(s->ctx, conf, k, p[1]);
    }
    if (rc == 0 && tid) {
        rc = kafka_set_prop(s->ctx, conf, "transactional.id", tid);
        if (rc == 0 && o->transaction_timeout_ms > 0) {
            snprintf(v, sizeof v, "%" PRId64, o->transaction_timeout_ms);
            rc = kafka_set_prop(s->ctx, conf, "transaction.timeout.ms", v);
        }
    }
    if (rc < 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, t);
    *out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!*out) {
        rd_kafka_conf_destroy(conf);
        weir_ctx_fail(s->ctx, "kafka sink: %s", errstr);
        return -EINVAL;
    }
    return 0;
}

/* One line for a transactional call that failed; the negative errno to return. */
static int txn_fail(struct ks_sink *s, const struct txn *t, int subtask, const char *what,
                    rd_kafka_error_t *e)
{
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    if (code == RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT) {
        char v[32] = "60000 (librdkafka's default)";
        if (s->a->o.transaction_timeout_ms > 0)
            snprintf(v, sizeof v, "%" PRId64, s->a->o.transaction_timeout_ms);
        weir_ctx_fail(s->ctx,
                      "transaction.timeout.ms: %s is above the broker's "
                      "transaction.max.timeout.ms: lower transaction.timeout.ms (or raise "
                      "the broker's transaction.max.timeout.ms)",
                      v);
    } else {
        weir_ctx_fail(s->ctx, "kafka sink %s, transactional.id %s-%d-%d: %s: %s", s->a->o.topic,
                      s->a->o.transactional_id_prefix, subtask, t->slot, what,
                      rd_kafka_error_string(e));
    }
    bool fatal = rd_kafka_error_is_fatal(e) || code == RD_KAFKA_RESP_ERR__FENCED ||
                 code == RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT;
    rd_kafka_error_destroy(e);
    return code == RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT ? -EINVAL : fatal ? -EIO : -EAGAIN;
}

static int dr_check(struct ks_sink *s)
{
    if (!s->dr_err)
        return 0;
    weir_ctx_fail(s->ctx, "kafka sink: delivery to %s", s->dr_errstr);
    return -EIO;
}

/* Waits until every record produced on rk is acknowledged (or failed). */
static int flush_all(struct ks_sink *s, rd_kafka_t *rk)
{
    while (rd_kafka_outq_len(rk) > 0 && !s->dr_err)
        rd_kafka_flush(rk, 1000);
    return dr_check(s);
}

static int produce(struct ks_sink *s, rd_kafka_t *rk, const struct weir_kafka_msg *m,
                   rd_kafka_headers_t *hdrs, uint64_t opaque)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(s->a->o.topic), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY((void *)m->key, m->key ? m->key_len : 0),
            RD_KAFKA_V_VALUE((void *)m->value, m->value ? m->value_len : 0),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)opaque), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            weir_ctx_fail(s->ctx, "kafka sink %s: produce: %s", s->a->o.topic,
                          rd_kafka_err2str(err));
            return -EIO;
        }
        rd_kafka_poll(rk, 100); /* backpressure: the queue drains as the broker acks */
        if (s->dr_err)
            break;
    }
    if (++s->since_poll >= 1024) {
        s->since_poll = 0;
        rd_kafka_poll(rk, 0);
    }
    return dr_check(s);
}

/* --- exactly-once ----------------------------------------------------------- */

static void txn_reset(struct txn *t)
{
    t->state = TXN_FREE;
    t->chk = 0;
    t->recs.len = 0;
    t->n_recs = 0;
    t->probe_off = -1;
    t->probe_part = 0;
    t->probe_at = 0;
}

static int txn_begin(struct ks_sink *s, struct txn *t)
{
    rd_kafka_error_t *e = rd_kafka_begin_transaction(t->rk);
    if (e)
        return txn_fail(s, t, s->subtask, "begin_transaction", e);
    txn_reset(t);
    t->state = TXN_OPEN;
    s->open = t;
    return 0;
}

static int txn_commit(struct ks_sink *s, struct txn *t)
{
    rd_kafka_error_t *e = rd_kafka_commit_transaction(t->rk, COMMIT_TIMEOUT_MS);
    if (e)
        return txn_fail(s, t, s->subtask, "commit_transaction", e);
    atomic_fetch_add_explicit(&s->commits, 1, memory_order_relaxed);
    txn_reset(t);
    return 0;
}

/* Flushes first: abort purges what is still queued (issue 11's pitfall). */
static void txn_abort(struct ks_sink *s, struct txn *t)
{
    rd_kafka_flush(t->rk, 10000);
    rd_kafka_error_t *e = rd_kafka_abort_transaction(t->rk, 30000);
    if (e)
        rd_kafka_error_destroy(e); /* the next init_transactions of this id aborts it */
    else
        atomic_fetch_add_explicit(&s->aborts, 1, memory_order_relaxed);
    txn_reset(t);
}

/* OPEN -> PRECOMMITTED(chk): every record acknowledged. */
static int txn_precommit(struct ks_sink *s, uint64_t chk)
{
    struct txn *t = s->open;
    if (!t)
        return 0;
    int rc = flush_all(s, t->rk);
    if (rc < 0)
        return rc;
    t->state = TXN_PRECOMMITTED;
    t->chk = chk;
    s->open = NULL;
    assert(ks_check_state(s));
    return 0;
}

/* Commits the PRECOMMITTED transactions of checkpoints <= upto, oldest first (UINT64_MAX:
 * all, end of input without checkpointing). One staged at end of input (chk 0) waits for
 * the first snapshot after it, as file_2pc.c's commit_upto says why. */
static int commit_upto(struct ks_sink *s, uint64_t upto)
{
    for (;;) {
        struct txn *oldest = NULL;
        for (int i = 0; i < NSLOTS; i++) {
            struct txn *t = &s->txns[i];
            if (t->state != TXN_PRECOMMITTED || (t->chk == 0 && upto != UINT64_MAX) ||
                t->chk > upto)
                continue;
            if (!oldest || t->chk < oldest->chk)
                oldest = t;
        }
        if (!oldest)
            return 0;
        int rc = txn_commit(s, oldest);
        if (rc < 0)
            return rc;
    }
}

/* Whether the restored transaction t committed before the crash: see the top. */
static int probe(struct ks_sink *s, const struct kept_txn *t, bool *committed)
{
    size_t at = t->probe_at;
    struct weir_kafka_msg m;
    rd_kafka_headers_t *h;
    if (!kept_get_rec(&t->recs, &at, &m, &h)) {
        weir_ctx_fail(s->ctx, "kafka sink: the state of checkpoint %" PRIu64 " is corrupt", t->chk);
        return -EIO;
    }
    if (h)
        rd_kafka_headers_destroy(h);
    struct kafka_probe p = {.bootstrap = s->a->o.bootstrap,
                            .props = s->a->props,
                            .topic = s->a->o.topic,
                            .partition = t->probe_part,
                            .offset = t->probe_off,
                            .chk = t->chk,
                            .value = m.value,
                            .value_len = m.value ? m.value_len : 0};
    return kafka_probe_committed(s->ctx, &p, committed);
}

/* A restored transaction that did not commit: its records again, into the first transaction
 * of this run, which commits with this run's first checkpoint (see the top: committing
 * them at once would send them twice if this run died before that checkpoint completed, as
 * the next restore, from the same checkpoint, finds them aborted where they were first). */
static int resend(struct ks_sink *s, const struct kept_buf *kept, uint64_t chk)
{
    int rc = 0;
    if (!s->open) {
        struct txn *t = NULL;
        for (int i = 0; i < NSLOTS && !t; i++)
            if (s->txns[i].state == TXN_FREE)
                t = &s->txns[i];
        if (!t)
            return -EIO; /* not reached: restore frees every slot first */
        if ((rc = txn_begin(s, t)) < 0)
            return rc;
    }
    struct txn *t = s->open;
    for (size_t at = 0; rc == 0 && at < kept->len;) {
        struct weir_kafka_msg m;
        rd_kafka_headers_t *h;
        if (!kept_get_rec(kept, &at, &m, &h)) {
            weir_ctx_fail(s->ctx, "kafka sink: the state of checkpoint %" PRIu64 " is corrupt",
                          chk);
            return -EIO;
        }
        uint64_t here = t->recs.len;
        if ((rc = kept_put_rec(&t->recs, &m)) < 0) {
            if (h)
                rd_kafka_headers_destroy(h);
            return rc;
        }
        t->n_recs++;
        rc = produce(s, t->rk, &m, h, here);
    }
    return rc;
}

/* --- operator hooks --------------------------------------------------------- */

/* A transactional producer for slot t's id of subtask sub ("<prefix>-<sub>-<slot>"), its
 * init_transactions done: the broker has aborted that id's open transaction (or completed
 * its commit, if the coordinator had logged one) and fenced the producer that held it. */
static int init_id(struct ks_sink *s, struct txn *t, int sub, rd_kafka_t **rk)
{
    char tid[512];
    snprintf(tid, sizeof tid, "%s-%d-%d", s->a->o.transactional_id_prefix, sub, t->slot);
    *rk = NULL;
    int rc = new_producer(s, t, tid, rk);
    if (rc == 0 && sub == s->subtask && t->slot == 0)
        rc = kafka_check_topic(s->ctx, *rk, s->a->o.bootstrap, s->a->o.topic);
    if (rc < 0)
        return rc;
    rd_kafka_error_t *e = rd_kafka_init_transactions(*rk, INIT_TIMEOUT_MS);
    return e ? txn_fail(s, t, sub, "init_transactions", e) : 0;
}

static int ks_open(weir_ctx *ctx, void *state, void *arg)
{
    struct ks_sink *s = state;
    s->a = arg;
    s->ctx = ctx;
    s->subtask = weir_ctx_subtask(ctx);
    if (!*s->a->o.topic || !*s->a->o.bootstrap) {
        weir_ctx_fail(ctx, "kafka sink \"%s\": no %s (struct weir_kafka_sink_opts)",
                      weir_ctx_uid(ctx), *s->a->o.topic ? "bootstrap" : "topic");
        return -EINVAL;
    }
    for (int i = 0; i < NSLOTS; i++) {
        s->txns[i].s = s;
        s->txns[i].slot = i;
        txn_reset(&s->txns[i]);
    }
    int rc =
        weir_ctx_metric_u64(ctx, WEIR_FLINK_OPERATOR "numRecordsOut",
                            "Records this sink handed to Kafka",
                            WEIR_METRIC_COUNTER, &s->records_out);
    if (rc == 0 && exactly_once(s)) {
        rc = weir_ctx_metric_u64(ctx, WEIR_ONLY_OPERATOR "kafkaTransactionsCommitted",
                                 "Kafka transactions this sink committed", WEIR_METRIC_COUNTER,
                                 &s->commits);
        if (rc == 0)
            rc = weir_ctx_metric_u64(ctx, WEIR_ONLY_OPERATOR "kafkaTransactionsAborted",
                                     "Kafka transactions this sink aborted (a restore sends "
                                     "their records again)",
                                     WEIR_METRIC_COUNTER, &s->aborts);
    }
    if (rc < 0)
        return rc;
    if (!exactly_once(s)) {
        if ((rc = new_producer(s, &s->txns[0], NULL, &s->rk)) < 0)
            return rc;
        return kafka_check_topic(ctx, s->rk, s->a->o.bootstrap, s->a->o.topic);
    }
    /* Every slot's id, so that a dead producer's transaction is settled (see the top). */
    for (int i = 0; i < NSLOTS && rc == 0; i++)
        rc = init_id(s, &s->txns[i], s->subtask, &s->txns[i].rk);
    return rc;
}

static int ks_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct ks_sink *s = state;
    const struct weir_kafka_sink_opts *o = &s->a->o;
    struct weir_kafka_msg m = {.partition = WEIR_KAFKA_PARTITION_ANY};
    int rc = 0;
    if (o->serialize) {
        rc = o->serialize(ctx, in, &m, o->serialize_arg);
        if (rc < 0)
            return rc;
    } else {
        m.value = in->data;
        m.value_len = in->len;
    }
    rd_kafka_headers_t *h = NULL;
    if (m.n_headers) {
        h = rd_kafka_headers_new(m.n_headers);
        for (size_t i = 0; i < m.n_headers; i++)
            rd_kafka_header_add(h, m.headers[i].name, -1, m.headers[i].value,
                                m.headers[i].value ? (ssize_t)m.headers[i].len : 0);
    }
    if (!exactly_once(s)) {
        rc = produce(s, s->rk, &m, h, 0);
    } else {
        if (!s->open) {
            struct txn *t = NULL;
            for (int i = 0; i < NSLOTS && !t; i++)
                if (s->txns[i].state == TXN_FREE)
                    t = &s->txns[i];
            if (!t) {
                if (h)
                    rd_kafka_headers_destroy(h);
                weir_ctx_fail(ctx,
                              "kafka sink %s: %d transactions wait for checkpoints that have "
                              "not completed (checkpoints failing in a row?): restarting from "
                              "the latest checkpoint settles them",
                              o->topic, NSLOTS);
                return -EIO;
            }
            if ((rc = txn_begin(s, t)) < 0) {
                if (h)
                    rd_kafka_headers_destroy(h);
                return rc;
            }
        }
        struct txn *t = s->open;
        uint64_t at = t->recs.len;
        if ((rc = kept_put_rec(&t->recs, &m)) < 0) {
            if (h)
                rd_kafka_headers_destroy(h);
            return rc;
        }
        t->n_recs++;
        rc = produce(s, t->rk, &m, h, at);
    }
    if (rc == 0)
        atomic_store_explicit(&s->records_out,
                              atomic_load_explicit(&s->records_out, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    return rc;
}

/* State (list state, UNION): a head item, then one item per PRECOMMITTED transaction with
 * its transactional.id and records (kafka_sink_kept.c has the layout). */
static int ks_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    struct ks_sink *s = state;
    if (!exactly_once(s)) {
        int rc = s->a->o.delivery_guarantee == WEIR_KAFKA_AT_LEAST_ONCE ? flush_all(s, s->rk)
                                                                        : dr_check(s);
        return rc < 0 ? rc : kept_write_head(out, 0);
    }
    int rc = txn_precommit(s, id);
    if (rc < 0)
        return rc;
    uint32_t n = 0;
    for (int i = 0; i < NSLOTS; i++) {
        struct txn *t = &s->txns[i];
        if (t->state == TXN_PRECOMMITTED && t->chk == 0)
            t->chk = id; /* staged at end of input: the first checkpoint after */
        n += t->state == TXN_PRECOMMITTED;
    }
    rc = kept_write_head(out, n);
    for (int i = 0; rc == 0 && i < NSLOTS; i++) {
        struct txn *t = &s->txns[i];
        if (t->state != TXN_PRECOMMITTED)
            continue;
        char tid[512];
        int tl = snprintf(tid, sizeof tid, "%s-%d-%d", s->a->o.transactional_id_prefix,
                          s->subtask, t->slot);
        struct kept_txn k = {.tid = tid,
                             .tid_len = tl < (int)sizeof tid ? (uint32_t)tl : sizeof tid - 1,
                             .chk = t->chk,
                             .n_recs = t->n_recs,
                             .probe_part = t->probe_part,
                             .probe_off = t->probe_off,
                             .probe_at = t->probe_at,
                             .recs = t->recs};
        rc = kept_write_txn(out, &k);
    }
    return rc;
}

static int ks_complete(weir_ctx *ctx, void *state, uint64_t id)
{
    struct ks_sink *s = state;
    return exactly_once(s) ? commit_upto(s, id) : 0;
}

/* Settles the ids of old subtask sub, which no subtask of this run has (see the top). */
static int fence_old(struct ks_sink *s, int sub)
{
    int rc = 0;
    for (int i = 0; i < NSLOTS && rc == 0; i++) {
        struct txn t = {.s = s, .slot = i, .probe_off = -1};
        rd_kafka_t *rk;
        rc = init_id(s, &t, sub, &rk);
        if (rk)
            rd_kafka_destroy(rk);
    }
    return rc;
}

static int by_chk(const void *a, const void *b)
{
    const struct kept_txn *x = a, *y = b;
    return x->chk < y->chk ? -1 : x->chk > y->chk;
}

/* This subtask's share of the checkpoint's transactions (UNION: it sees every item): those of
 * old subtasks i with i % p == this subtask. Not dealt one by one: the subtask that settles
 * an old subtask's ids is the one that probes its transactions, so no probe waits on the
 * restore of another subtask (they run one after another). */
static int ks_restore_items(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                            size_t n)
{
    struct ks_sink *s = state;
    if (!exactly_once(s))
        return 0;
    uint32_t p = (uint32_t)weir_ctx_parallelism(ctx), me = (uint32_t)s->subtask, old_p = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].parallelism > old_p)
            old_p = items[i].parallelism;
    int rc = 0;
    for (uint32_t sub = p; sub < old_p && rc == 0; sub++)
        if (sub % p == me)
            rc = fence_old(s, (int)sub);
    struct kept_txn *v = NULL;
    size_t nv = 0, cap = 0;
    char err[256];
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (items[i].subtask % p != me)
            continue;
        rc = kept_parse_item(items[i].data, items[i].len, &v, &nv, &cap, err, sizeof err);
        if (rc == -EBADMSG)
            weir_ctx_fail(ctx, "kafka sink \"%s\": the state of its old subtask %u: %s",
                          weir_ctx_uid(ctx), items[i].subtask + 1, err);
    }
    /* oldest first: a partition gets them in order (v is NULL when none: not for qsort) */
    if (rc == 0 && nv)
        qsort(v, nv, sizeof *v, by_chk);
    /* All probed first, then what did not commit is sent again, oldest first. */
    bool *again = rc == 0 && nv ? calloc(nv, sizeof *again) : NULL;
    if (rc == 0 && nv && !again)
        rc = -ENOMEM;
    for (size_t i = 0; i < nv && rc == 0; i++) {
        bool committed = v[i].n_recs == 0;
        if (!committed && (rc = probe(s, &v[i], &committed)) == 0 && !committed) {
            atomic_fetch_add_explicit(&s->aborts, 1, memory_order_relaxed);
            again[i] = true;
        }
    }
    for (size_t i = 0; i < nv && rc == 0; i++)
        if (again[i])
            rc = resend(s, &v[i].recs, v[i].chk);
    free(again);
    free(v);
    assert(rc < 0 || ks_check_state(s));
    return rc;
}

static int ks_end(weir_ctx *ctx, void *state, weir_emit *out)
{
    struct ks_sink *s = state;
    if (!exactly_once(s))
        return flush_all(s, s->rk);
    int rc = txn_precommit(s, 0);
    if (rc == 0 && !weir_ctx_checkpointing(ctx))
        rc = commit_upto(s, UINT64_MAX);
    return rc;
}

static void ks_close(weir_ctx *ctx, void *state)
{
    struct ks_sink *s = state;
    if (s->rk) {
        rd_kafka_flush(s->rk, 10000); /* none: what is queued still goes */
        rd_kafka_destroy(s->rk);
    }
    for (int i = 0; i < NSLOTS; i++) {
        struct txn *t = &s->txns[i];
        if (t->rk) {
            /* An OPEN transaction holds records after the last checkpoint: aborted, the
             * sources replay them. PRECOMMITTED ones are left for a restore to decide. */
            if (t->state == TXN_OPEN)
                txn_abort(s, t);
            rd_kafka_purge(t->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_destroy(t->rk);
        }
        free(t->recs.p);
    }
}

static const struct weir_operator_ops ks_ops = {
    .kind = "kafka-sink",
    .state_size = sizeof(struct ks_sink),
    .open = ks_open,
    .process = ks_process,
    .end = ks_end,
    .close = ks_close,
    .snapshot = ks_snapshot,
    .checkpoint_complete = ks_complete,
    .state_mode = WEIR_STATE_UNION,
    .restore_items = ks_restore_items,
};

/* --- building --------------------------------------------------------------- */

int weir_kafka_delivery_parse(const char *v, enum weir_kafka_delivery *out)
{
    if (!v)
        return -EINVAL;
    if (!strcasecmp(v, "none"))
        *out = WEIR_KAFKA_NONE;
    else if (!strcasecmp(v, "at-least-once") || !strcasecmp(v, "at_least_once"))
        *out = WEIR_KAFKA_AT_LEAST_ONCE;
    else if (!strcasecmp(v, "exactly-once") || !strcasecmp(v, "exactly_once"))
        *out = WEIR_KAFKA_EXACTLY_ONCE;
    else
        return -EINVAL;
    return 0;
}

static void ks_args_free(void *p)
{
    struct ks_args *a = p;
    if (!a)
        return;
    free((char *)a->o.bootstrap);
    free((char *)a->o.topic);
    free((char *)a->o.transactional_id_prefix);
    for (char **q = a->props; q && *q; q++)
        free(*q);
    free(a->props);
    free(a);
}

weir_stream *weir_sink_kafka(weir_stream *in, const char *uid,
                             const struct weir_kafka_sink_opts *opts)
{
    if (!in)
        return NULL;
    struct ks_args *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->o = *opts;
    a->o.bootstrap = strdup(opts->bootstrap ? opts->bootstrap : "");
    a->o.topic = strdup(opts->topic ? opts->topic : "");
    a->o.transactional_id_prefix =
        strdup(opts->transactional_id_prefix ? opts->transactional_id_prefix
               : uid                         ? uid
                                             : "");
    size_t np = 0;
    while (opts->properties && opts->properties[np] && opts->properties[np + 1])
        np += 2;
    a->props = calloc(np + 1, sizeof *a->props);
    bool ok = a->o.bootstrap && a->o.topic && a->o.transactional_id_prefix && a->props;
    for (size_t i = 0; ok && i < np; i++)
        ok = (a->props[i] = strdup(opts->properties[i])) != NULL;
    if (!ok) {
        ks_args_free(a);
        return NULL;
    }
    weir_stream *s = weir_sink(in, uid, &ks_ops, a);
    if (!s) {
        ks_args_free(a);
        return NULL;
    }
    weir_stream_own_arg(s, ks_args_free);
    return s;
}
