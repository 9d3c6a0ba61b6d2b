// Formats the broker's storage with the SCRAM-SHA-512 credentials of every principal, for
// deploy/kafka/start.sh (run as a single-file program: java -cp "lib/*" FormatStorage.java ...).
//
// kafka.tools.StorageTool takes credentials only as --add-scram arguments, and a process's
// arguments are readable by every local user (ps, /proc/<pid>/cmdline). This wrapper reads the
// passwords from its environment (readable by the same user only) and hands the arguments to
// StorageTool inside the JVM, so no password is ever on a command line.
//
// Usage: FormatStorage <cluster id> <server.properties> <principal>...
//   with KAFKA_PASSWORD_<PRINCIPAL> set for each (upper case, '-' as '_').
import java.util.ArrayList;
import java.util.List;

public class FormatStorage {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: FormatStorage <cluster id> <server.properties> <principal>...");
            System.exit(2);
        }
        List<String> tool = new ArrayList<>(List.of("format", "-t", args[0], "-c", args[1], "-g"));
        for (int i = 2; i < args.length; i++) {
            String principal = args[i];
            if (!principal.matches("[a-z][a-z0-9-]{0,31}")) {
                System.err.println("not a principal name: " + principal);
                System.exit(2);
            }
            String variable = "KAFKA_PASSWORD_" + principal.toUpperCase().replace('-', '_');
            String password = System.getenv(variable);
            if (password == null || !password.matches("[A-Za-z0-9]{16,}")) {
                System.err.println(variable + " is missing or not 16+ letters and digits");
                System.exit(2);
            }
            tool.add("--add-scram");
            tool.add("SCRAM-SHA-512=[name=" + principal + ",password=" + password + "]");
        }
        kafka.tools.StorageTool.main(tool.toArray(new String[0]));
    }
}
