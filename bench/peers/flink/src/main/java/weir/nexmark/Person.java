package weir.nexmark;

import java.util.Objects;

/** A new person (Nexmark's Person). A Flink POJO: public fields, no-arg constructor. */
public class Person {
    public long id;
    public String name;
    public String emailAddress;
    public String creditCard;
    public String city;
    public String state;
    /** Epoch ms; the record's event time. */
    public long dateTime;
    public String extra;

    public Person() {}

    /** The row of person.csv (weir bench nexmark --dump-events). */
    public String toCsv() {
        return id + "," + name + "," + emailAddress + "," + creditCard + "," + city + "," + state
                + "," + dateTime + "," + extra;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Person && toCsv().equals(((Person) o).toCsv());
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, dateTime);
    }

    @Override
    public String toString() {
        return toCsv();
    }
}
