package weir.kafka;

import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Flink's side of bench/bench_kafka_source.cc: KafkaSource (earliest to the end offsets the
 * topic has at start) -> map (pass-through) -> DiscardingSink on an in-process MiniCluster.
 *
 * <pre>
 *   WEIR_FLINK_MAIN=weir.kafka.KafkaSourceBench bin/run.sh --bootstrap B --topic T \
 *       --records N [-p P] [-D key=value]...
 * </pre>
 *
 * Prints one line, {@code flink records=N wall_s=W cpu_s=C total_wall_s=TW total_cpu_s=TC}:
 * wall and process CPU time (all the JVM's threads: tasks, Kafka client, JIT, GC) from the
 * first record the map sees to the N-th, as the C harness measures weir and the bare
 * librdkafka loop; total_* from job submission to the end of execute() (MiniCluster start
 * included). Object reuse is on, as in the Nexmark suite's Flink configuration.
 */
public final class KafkaSourceBench {
    static final AtomicLong COUNT = new AtomicLong();
    static volatile long expected, t0, t1, cpu0, cpu1;

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean)
                        ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** Pass-through that marks the first and the expected-th record. */
    static final class Mark implements MapFunction<byte[], byte[]> {
        @Override
        public byte[] map(byte[] v) {
            long c = COUNT.incrementAndGet();
            if (c == 1) {
                t0 = System.nanoTime();
                cpu0 = cpuNanos();
            }
            if (c == expected) {
                t1 = System.nanoTime();
                cpu1 = cpuNanos();
            }
            return v;
        }
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = null, topic = null;
        int p = 1;
        Map<String, String> conf = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            if (v == null) {
                System.err.println("kafka-source-bench: " + a + " needs a value");
                System.exit(2);
            }
            i++;
            switch (a) {
                case "--bootstrap" -> bootstrap = v;
                case "--topic" -> topic = v;
                case "--records" -> expected = Long.parseLong(v);
                case "-p" -> p = Integer.parseInt(v);
                case "-D" -> {
                    int eq = v.indexOf('=');
                    conf.put(v.substring(0, eq), v.substring(eq + 1));
                }
                default -> {
                    System.err.println("kafka-source-bench: unknown flag " + a);
                    System.exit(2);
                }
            }
        }
        if (bootstrap == null || topic == null || expected <= 0) {
            System.err.println(
                    "usage: --bootstrap B --topic T --records N [-p P] [-D key=value]...");
            System.exit(2);
        }
        Map<String, String> c = new HashMap<>();
        c.put("parallelism.default", Integer.toString(p));
        c.put("taskmanager.numberOfTaskSlots", Integer.toString(p));
        c.put("restart-strategy.type", "none");
        c.put("pipeline.object-reuse", "true");
        c.putAll(conf);
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.createLocalEnvironment(p, Configuration.fromMap(c));
        KafkaSource<byte[]> src = KafkaSource.<byte[]>builder()
                .setBootstrapServers(bootstrap)
                .setTopics(topic)
                .setGroupId("flink-bench-" + topic)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setBounded(OffsetsInitializer.latest())
                .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(
                        ByteArrayDeserializer.class))
                .build();
        env.fromSource(src, WatermarkStrategy.noWatermarks(), "kafka")
                .map(new Mark())
                .name("pass-through")
                .sinkTo(new DiscardingSink<>())
                .name("discard");
        long w0 = System.nanoTime(), c0 = cpuNanos();
        env.execute("kafka-source-bench");
        long w1 = System.nanoTime(), c1 = cpuNanos();
        if (COUNT.get() != expected) {
            System.err.printf(Locale.ROOT, "kafka-source-bench: read %d records, expected %d%n",
                    COUNT.get(), expected);
            System.exit(1);
        }
        System.out.printf(Locale.ROOT,
                "flink records=%d wall_s=%.6f cpu_s=%.6f total_wall_s=%.6f total_cpu_s=%.6f "
                        + "version=%s%n",
                expected, (t1 - t0) * 1e-9, (cpu1 - cpu0) * 1e-9, (w1 - w0) * 1e-9,
                (c1 - c0) * 1e-9, EnvironmentInformation.getVersion());
    }
}
