import { tf } from '@meddl/tensor';
import { Module } from '../module';

/** A module whose forward maps one tensor to one tensor. */
export interface UnaryModule extends Module {
  forward(x: tf.Tensor): tf.Tensor;
}

/** Applies its children in order; children are named 0, 1, 2… as in torch.nn.Sequential. */
export class Sequential extends Module {
  private readonly items: UnaryModule[];

  constructor(...modules: UnaryModule[]) {
    super();
    this.items = modules;
    modules.forEach((m, i) => {
      this.registerModule(String(i), m);
    });
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): UnaryModule {
    const m = this.items[i];
    if (!m) throw new RangeError(`Sequential index ${i} out of range (${this.items.length})`);
    return m;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      for (const m of this.items) h = m.forward(h);
      return h;
    });
  }
}
