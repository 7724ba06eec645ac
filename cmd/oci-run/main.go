// Command oci-run is the runc-compatible runtime CLI (placeholder).
package main

func main() {}
