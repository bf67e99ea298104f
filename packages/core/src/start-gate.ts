/** A gate that opens once and stays open: `open` to test it without awaiting, `opened` to wait. */
export class StartGate {
  private isOpen = false;
  private release!: () => void;
  /** Resolves when the gate opens. */
  readonly opened = new Promise<void>((resolve) => {
    this.release = resolve;
  });

  get open(): boolean {
    return this.isOpen;
  }

  /** Opens the gate (idempotent). */
  openNow(): void {
    this.isOpen = true;
    this.release();
  }
}
